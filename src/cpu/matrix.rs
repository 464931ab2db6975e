//! A weight matrix of the CPU path: quantized types repacked once at load
//! (16-row groups, see `pack.rs`), float types read in place from the
//! memory-mapped file.

use std::sync::Arc;

use super::acts::QActs;
use super::isa::Isa;
use super::kernels;
use super::pack::{Fmt, ROWS, pack_group};
use super::pool::for_chunks;
use crate::gguf::{GgufError, GgufFile, TensorInfo};
use crate::quant::GgmlType;

/// 64 bytes, 64-aligned: packed groups start on a cache line.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Line([u8; 64]);

enum Data {
    Packed {
        fmt: Fmt,
        /// Bytes of one row group (a multiple of 64).
        group: usize,
        lines: Vec<Line>,
    },
    /// Row-major F32/F16/BF16 at `offset` in the file.
    Float { file: Arc<GgufFile>, offset: usize },
}

pub(crate) struct Matrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    data: Data,
}

/// A mat-mul's input: `n` rows of `cols` values, and their 8-bit
/// quantization when a quantized matrix reads them.
#[derive(Clone, Copy)]
pub(crate) struct Input<'a> {
    pub x: &'a [f32],
    pub q: Option<&'a QActs>,
    pub n: usize,
}

impl Matrix {
    /// The matrix `info` of `file` (its rows are `dims[1..]`, its columns
    /// `dims[0]`): repacked (in parallel, on the enclosing pool) when
    /// quantized, else kept in place.
    pub(crate) fn new(file: &Arc<GgufFile>, info: &TensorInfo) -> Result<Matrix, GgufError> {
        let ty = info.ty;
        let cols = info.dims[0] as usize;
        let rows = (info.n_elements / info.dims[0]) as usize;
        let tensor = file.try_tensor_data(info)?;
        let offset = (file.data_offset() + info.offset) as usize;
        let data = match Fmt::of(ty) {
            None => Data::Float {
                file: file.clone(),
                offset,
            },
            Some(fmt) => {
                let bytes = tensor;
                let row_bytes = cols / ty.block_size() * ty.type_size();
                let group = fmt.group_bytes(cols);
                let mut lines = vec![Line([0; 64]); rows.div_ceil(ROWS) * group / 64];
                for_chunks(&mut lines, group / 64, |g, out| {
                    let rs: Vec<&[u8]> = (g * ROWS..rows.min(g * ROWS + ROWS))
                        .map(|r| &bytes[r * row_bytes..(r + 1) * row_bytes])
                        .collect();
                    pack_group(&fmt, cols, &rs, bytemuck::cast_slice_mut(out));
                });
                Data::Packed { fmt, group, lines }
            }
        };
        Ok(Matrix {
            ty,
            rows,
            cols,
            data,
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Row groups of 16.
    pub(crate) fn groups(&self) -> usize {
        self.rows.div_ceil(ROWS)
    }

    /// Reads 8-bit activations (else f32).
    pub(crate) fn is_quantized(&self) -> bool {
        matches!(self.data, Data::Packed { .. })
    }

    /// Bytes this matrix holds in memory of its own (0 when it reads the
    /// file in place).
    pub(crate) fn owned_bytes(&self) -> u64 {
        match &self.data {
            Data::Packed { lines, .. } => (lines.len() * 64) as u64,
            Data::Float { .. } => 0,
        }
    }

    /// Row group `g` times every token of `x`: `out[t * 16 + r]` (the rows
    /// past the last are 0 or garbage-free zeros of the padding).
    pub(crate) fn group(&self, isa: Isa, g: usize, x: Input, out: &mut [f32]) {
        match &self.data {
            Data::Packed { fmt, group, lines } => {
                let bytes: &[u8] = bytemuck::cast_slice(lines);
                let q = x.q.expect("quantized input for a quantized matrix");
                debug_assert_eq!(q.n(), x.n);
                kernels::qgroup(
                    isa,
                    fmt.ty,
                    &bytes[g * group..(g + 1) * group],
                    self.cols,
                    q,
                    out,
                );
            }
            Data::Float { file, offset } => {
                let len = self.rows * self.cols * self.ty.type_size();
                let data = &file.as_bytes()[*offset..*offset + len];
                kernels::fgroup(
                    isa,
                    self.ty,
                    data,
                    self.rows,
                    self.cols,
                    g * ROWS,
                    x.x,
                    x.n,
                    out,
                );
            }
        }
    }
}
