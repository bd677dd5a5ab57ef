"""3x3 convolution at stride 1 by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016).

Each 2x2 block of outputs is computed from the 4x4 tile of input that covers it::

    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A          d: 4x4 input tile, g: 3x3 kernel, Y: 2x2 outputs

with
    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

Summed over input channels, the elementwise product of each of the 16 tile positions
(ξ, ν) is one matrix product: ``M[ξ, ν] = U[ξ, ν] @ V[ξ, ν]`` with U (C_out, C) the transformed
weights and V (C, tiles) the transformed input tiles. 16 products of C_out*C*tiles multiply-adds
replace im2col's one of C_out*C*9*4*tiles: 2.25x fewer, and V (16 values per 2x2 outputs and
channel) is 2.25x smaller than im2col's matrix (36). The transforms are additions over strided
views of the tiles, each done separably (rows, then columns).

The result equals the direct convolution up to float rounding: the transforms add and subtract
up to 9 terms and G halves, so float32 results differ from the direct sum by a few ulps of the
largest partial sums (tests compare against the naive loops in float64 at 1e-10).
"""

from __future__ import annotations

import numpy as np

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])  # (4, 3)


def transform_weight(weight: np.ndarray) -> np.ndarray:
    """U = G g G^T for every (output, input) channel pair: weight (C_out, C, 3, 3) → (16, C_out, C).

    G^T's side over the kernel's columns, then G's over its rows (`_weight_pass`), as elementwise
    passes over (C_out, C) planes: BLAS runs such 4x3 products slowly (3 ms for 256x256 channels).
    """
    planes = np.ascontiguousarray(weight.transpose(2, 3, 0, 1))  # (3, 3, C_out, C): g[i, j]
    columns = _weight_pass(planes[:, 0], planes[:, 1], planes[:, 2])  # (4, 3, C_out, C): (g G^T)[i, b], indexed [b, i]
    U = _weight_pass(columns[:, 0], columns[:, 1], columns[:, 2])  # (4, 4, C_out, C): (G g G^T)[a, b]
    return U.reshape(16, *weight.shape[:2])


def _weight_pass(g0: np.ndarray, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """(G g)[0..3] from the 3 kernel rows: g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2."""
    out = np.empty((4, *g0.shape), dtype=g0.dtype)
    out[0], out[3] = g0, g2
    outer = np.add(g0, g2, out=out[1])
    outer *= 0.5
    middle = g1 * 0.5
    np.subtract(outer, middle, out=out[2])
    outer += middle  # out[1]
    return out


def _tile_pass(rows: list[np.ndarray], out: np.ndarray) -> None:
    """The B^T (or, on the other axis, B) side of the input transform: out[0..3] from the 4 tile rows d0..d3.

    (B^T d)[0] = d0 - d2, [1] = d1 + d2, [2] = d2 - d1, [3] = d1 - d3.
    """
    d0, d1, d2, d3 = rows
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def conv3x3(x: np.ndarray, U: np.ndarray, padding: tuple[int, int, int, int], Ho: int, Wo: int) -> np.ndarray:
    """The stride-1 3x3 convolution of x (C, H, W, N), batch last, padded by ``padding``: (C_out, Ho, Wo, N).

    U is `transform_weight` of the weight; Ho = H + top + bottom - 2, likewise Wo. The batch is the
    innermost axis of every pass, so that each strided view of the tiles is read in runs of N.
    """
    C, H, W, N = x.shape
    top, _, left, _ = padding
    TH, TW = -(-Ho // 2), -(-Wo // 2)  # tiles of 2x2 outputs per image (the last may hang over)
    xp = np.zeros((C, 2 * TH + 2, 2 * TW + 2, N), dtype=x.dtype)  # zero-padded to whole tiles
    xp[:, top : top + H, left : left + W] = x  # fits: 2*TH + 2 >= top + H + bottom

    # V = B^T d B for every tile: rows first, (4, C, TH, Wp, N), then columns, (4, 4, C, TH, TW, N)
    half = np.empty((4, C, TH, xp.shape[2], N), dtype=x.dtype)
    _tile_pass([xp[:, r : r + 2 * TH : 2] for r in range(4)], half)
    V = np.empty((4, 4, C, TH, TW, N), dtype=x.dtype)
    for i in range(4):
        _tile_pass([half[i, :, :, c : c + 2 * TW : 2] for c in range(4)], V[i])

    M = np.matmul(U, V.reshape(16, C, TH * TW * N)).reshape(4, 4, -1, TH, TW, N)  # (4, 4, C_out, TH, TW, N)

    # Y = A^T M A: rows, (2, 4, C_out, TH, TW, N), then columns into out (C_out, TH, 2, TW, 2, N)
    S = np.empty((2, *M.shape[1:]), dtype=M.dtype)
    np.add(M[0], M[1], out=S[0])
    S[0] += M[2]
    np.subtract(M[1], M[2], out=S[1])
    S[1] -= M[3]
    out = np.empty((M.shape[2], TH, 2, TW, 2, N), dtype=M.dtype)
    for a in range(2):
        Y0, Y1 = out[:, :, a, :, 0], out[:, :, a, :, 1]  # output rows 2*th + a, columns 2*tw and 2*tw + 1
        np.add(S[a, 0], S[a, 1], out=Y0)
        Y0 += S[a, 2]
        np.subtract(S[a, 1], S[a, 2], out=Y1)
        Y1 -= S[a, 3]
    return out.reshape(-1, 2 * TH, 2 * TW, N)[:, :Ho, :Wo]
