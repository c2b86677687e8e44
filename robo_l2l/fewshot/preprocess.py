"""The reference's image preprocessing (tfds ``omniglot`` + ``extract``), bit-exact, in numpy.

FEWSHOT.md section 6: the decoded PNG (uint8, R = G = B, 0 = stroke, 255 = background) goes
through, in float32 and in this order,

1. ``convert_image_dtype``: :math:`x = v \\cdot \\mathrm{fl}(1/255)` (a float32 multiply, as TF),
2. ``rgb_to_grayscale``: :math:`g = (x w_R + x w_G) + x w_B` with
   :math:`w = (0.2989, 0.5870, 0.1140)` (sum 0.9999: white becomes 0.99990004),
3. ``resize`` to 28x28, bilinear, half-pixel centres, **no antialiasing**: for output index
   :math:`o`, source coordinate :math:`p = (o + 0.5) s - 0.5` with :math:`s = 105/28`,
   :math:`\\ell = \\max(\\lfloor p\\rfloor, 0)`, :math:`h = \\min(\\lceil p\\rceil, 104)`,
   :math:`t = p - \\lfloor p\\rfloor`, and with the 2x2 source pixels A (top-left), B (top-right),
   C (bottom-left), D (bottom-right)

   .. math::
       \\mathrm{top} = A + (B - A) t_x,\\quad \\mathrm{bottom} = C + (D - C) t_x,\\quad
       \\mathrm{out} = \\mathrm{top} + (\\mathrm{bottom} - \\mathrm{top}) t_y.

Result: float32 (..., 28, 28) in [0, 0.99990004], strokes 0, background 0.9999, no inversion,
no normalisation. Equal bit for bit (``np.array_equal``) to the reference's network inputs in
``golden_fewshot.npz``. Steps 1-2 act per pixel, so they are a 256-entry lookup table applied
after gathering the 2x2 source pixels (the same float32 operations, 4 x 784 of them per image
instead of 3 x 11,025). The bit-exactness is verified for Omniglot's binary images; for 8-bit
gray levels step 2 follows TF's formula but TF's summation order inside its dot product is not
verified.
"""

from __future__ import annotations

import numpy as np

OUTPUT_SIZE = 28
"""Side of the network input in pixels (FEWSHOT.md section 1)."""

GRAYSCALE_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
"""``tf.image.rgb_to_grayscale`` weights (R, G, B); they sum to 0.9999, not 1."""

BACKGROUND = np.float32(0.99990004)
"""Preprocessed value of a white (255) pixel: ``GRAYSCALE_WEIGHTS`` summed in float32."""


def grayscale_table() -> np.ndarray:
    """float32 (256,): the preprocessed gray value of each uint8 level (steps 1-2)."""
    x = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)
    w = GRAYSCALE_WEIGHTS
    return (x * w[0] + x * w[1]) + x * w[2]


def bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (lo, hi) and weight t of TF's half-pixel bilinear resize along one axis.

    .. math:: p = (o + 0.5)\\,\\mathrm{fl}(n_{in}/n_{out}) - 0.5,\\ \\ lo = \\max(\\lfloor p
        \\rfloor, 0),\\ \\ hi = \\min(\\lceil p\\rceil, n_{in} - 1),\\ \\ t = p - \\lfloor p\\rfloor

    all in float32 (TF's ``HalfPixelScaler``). For 105 -> 28: t cycles 0.375, 0.125, 0.875, 0.625.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    scale = np.float32(in_size) / np.float32(out_size)
    p = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(p)
    lo = np.maximum(floor, 0).astype(np.intp)
    hi = np.minimum(np.ceil(p), in_size - 1).astype(np.intp)
    return lo, hi, (p - floor).astype(np.float32)


def resize_bilinear(
    image: np.ndarray, size: int = OUTPUT_SIZE, table: np.ndarray | None = None
) -> np.ndarray:
    """TF's bilinear resize (half-pixel centres, no antialiasing) over the last two axes.

    Args:
        image: (..., H, W) values; float32, or integer indices into ``table``.
        size: output side (square output).
        table: optional float32 lookup applied to the gathered source pixels (per-pixel
            conversion done after the gather, which is exact because it is elementwise).

    Returns:
        float32 (..., size, size).
    """
    height, width = image.shape[-2:]
    rows = bilinear_taps(height, size)
    cols = bilinear_taps(width, size)
    # One flat gather per tap: much faster than fancy indexing over two trailing axes.
    flat = image.reshape(*image.shape[:-2], height * width)

    def tap(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        v = np.take(flat, (r[:, None] * width + c[None, :]).ravel(), axis=-1)
        v = np.take(table, v) if table is not None else v.astype(np.float32, copy=False)
        return v.reshape(*image.shape[:-2], size, size)

    a, b = tap(rows[0], cols[0]), tap(rows[0], cols[1])
    c, d = tap(rows[1], cols[0]), tap(rows[1], cols[1])
    tx, ty = cols[2][None, :], rows[2][:, None]
    top = a + (b - a) * tx
    bottom = c + (d - c) * tx
    return top + (bottom - top) * ty


def preprocess(raw: np.ndarray, size: int = OUTPUT_SIZE) -> np.ndarray:
    """Decoded Omniglot images to the reference's network inputs.

    Args:
        raw: uint8 (..., H, W), one channel of the tfds decoding (0 stroke, 255 background);
            Omniglot's are 105x105.
        size: output side, 28 in the reference.

    Returns:
        float32 (..., size, size) in [0, 0.99990004]: strokes 0, background 0.9999 (no channel
        axis; the reference's trailing channel of 1 is squeezed).

    Raises:
        ValueError: ``raw`` is not uint8 or has fewer than 2 axes.
    """
    raw = np.asarray(raw)
    if raw.dtype != np.uint8:
        raise ValueError(f"raw images must be uint8 (the decoded PNG), got {raw.dtype}")
    if raw.ndim < 2 or min(raw.shape[-2:]) < 1:
        raise ValueError(f"raw images must have shape (..., H, W), got {raw.shape}")
    return resize_bilinear(raw, size, grayscale_table())
