//! A mat-mul of the forward: one or more matrices whose rows are stacked in
//! the output (Q, K and V; gate and up), split by row groups over the pool
//! in one parallel region, each weight row read once for all tokens of the
//! step.

use super::isa::Isa;
use super::matrix::{Input, Matrix};
use super::pack::ROWS;
use super::pool::for_chunks;

/// `out[t * stride + r]` = (or +=, with `add`) row `r` of the stacked
/// `mats` times token `t` of `x`. `tiles` is scratch of at least
/// [`tile_len`] floats.
pub(crate) fn matmul(
    isa: Isa,
    mats: &[Matrix],
    x: Input,
    tiles: &mut [f32],
    out: &mut [f32],
    stride: usize,
    add: bool,
) {
    let n = x.n;
    let per = n * ROWS;
    let tiles = &mut tiles[..tile_len(mats, n)];
    for_chunks(tiles, per, |i, tile| {
        let mut g = i;
        for m in mats {
            if g < m.groups() {
                m.group(isa, g, x, tile);
                return;
            }
            g -= m.groups();
        }
    });
    let mut row0 = 0;
    let mut tiles = &tiles[..];
    for m in mats {
        for g in 0..m.groups() {
            let lanes = ROWS.min(m.rows() - g * ROWS);
            let (tile, rest) = tiles.split_at(per);
            tiles = rest;
            for t in 0..n {
                let src = &tile[t * ROWS..t * ROWS + lanes];
                let dst = &mut out[t * stride + row0 + g * ROWS..][..lanes];
                if add {
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
        row0 += m.rows();
    }
}

/// Scratch floats [`matmul`] needs for `n` tokens.
pub(crate) fn tile_len(mats: &[Matrix], n: usize) -> usize {
    mats.iter().map(|m| m.groups()).sum::<usize>() * n * ROWS
}
