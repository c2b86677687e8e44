"""Drive a GUI script as a user would, under a virtual display (run it with ``xvfb-run``).

    xvfb-run -a python -m tests.gui.driver OUT.json -- python scripts/watch.py ...

Starts the command, waits for its start message (``keyboard shortcuts``), focuses the PyBullet
window, then performs the steps named by ``--steps`` (comma separated): ``key:<keysym>`` holds a
key for 1.2 s (``xdotool``), ``close`` asks the window manager's way to close the window (a
``WM_DELETE_WINDOW`` client message, what a title-bar close button sends), ``wait:<s>``.
Writes the command's return code, stdout and stderr to OUT.json.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import time

WINDOW_NAME = "Bullet Physics"
CLIENT_MESSAGE = 33  # X11 event type


class _ClientMessage(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("message_type", ctypes.c_ulong),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class _Event(ctypes.Union):
    _fields_ = [("xclient", _ClientMessage), ("pad", ctypes.c_long * 24)]


def close_window(window: int) -> None:
    """Send ``WM_DELETE_WINDOW`` to ``window`` (Xlib through ctypes)."""
    x11 = ctypes.cdll.LoadLibrary("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.POINTER(_Event)]  # fmt: skip
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(None)
    if not display:
        raise RuntimeError("cannot open the X display")
    event = _Event()
    event.xclient.type = CLIENT_MESSAGE
    event.xclient.window = window
    event.xclient.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", 0)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(display, window, 0, 0, ctypes.byref(event))
    x11.XFlush(display)
    x11.XCloseDisplay(display)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--steps", default="")
    parser.add_argument("--timeout", type=float, default=400.0)
    argv = sys.argv[1:]
    if "--" not in argv:
        parser.error("give the command after --")
    split = argv.index("--")
    args, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        result = _drive(proc, args)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


def _drive(proc: subprocess.Popen, args: argparse.Namespace) -> dict:
    stdout: list[str] = []
    deadline = time.monotonic() + args.timeout
    for line in proc.stdout:  # the start message comes once the window is up
        stdout.append(line)
        if "keyboard shortcuts" in line or time.monotonic() > deadline:
            break
    time.sleep(2.0)
    found = subprocess.run(["xdotool", "search", "--name", WINDOW_NAME], capture_output=True,
                           text=True, check=True)  # fmt: skip
    window = int(found.stdout.split()[0])
    subprocess.run(["xdotool", "windowfocus", str(window)], check=True)
    time.sleep(2.0)
    for step in filter(None, args.steps.split(",")):
        kind, _, value = step.partition(":")
        if kind == "key":
            subprocess.run(["xdotool", "keydown", value], check=True)
            # held across several frames of the window's loop: at 0.6 s two keys went unseen
            # once, with two trainings and the test suite sharing the 2 cores
            time.sleep(1.2)
            subprocess.run(["xdotool", "keyup", value], check=True)
            time.sleep(1.5)
        elif kind == "close":
            close_window(window)
        elif kind == "kill":
            subprocess.run(["xdotool", "windowkill", str(window)], check=True)
        elif kind == "wait":
            time.sleep(float(value))
        else:
            raise ValueError(f"unknown step {step!r}")
    try:
        rest, stderr = proc.communicate(timeout=max(deadline - time.monotonic(), 10))
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, stderr = proc.communicate()
    return {"returncode": proc.returncode, "stdout": "".join(stdout) + rest, "stderr": stderr}


if __name__ == "__main__":
    sys.exit(main())
