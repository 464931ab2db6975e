//! Weight matrices on the GPU, in the layout of [`crate::quant::repack`].

use super::{Gpu, GpuError};
use crate::quant::GgmlType;
use crate::quant::repack::{Layout, repack};
use wgpu::util::DeviceExt;

/// One row range of a matrix, small enough to be bound whole.
pub(crate) struct Part {
    pub row0: usize,
    pub rows: usize,
    pub qs: wgpu::Buffer,
    pub sc: wgpu::Buffer,
}

/// A weight matrix `W[rows][cols]` (GGUF dims `[cols, rows]`) uploaded in the
/// GPU layout, split by whole rows into parts so that no binding exceeds
/// `gpu.max_binding`.
pub struct QMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub(crate) layout: Layout,
    pub(crate) parts: Vec<Part>,
}

impl QMatrix {
    /// Uploads `bytes` (ggml blocks, row-major: `rows` rows of `cols` elements).
    pub fn upload(
        gpu: &Gpu,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
        label: &str,
    ) -> Result<QMatrix, GpuError> {
        let layout = Layout::of(ty).map_err(|_| GpuError::Unsupported {
            ty,
            reason: "no GPU layout for this type yet".into(),
        })?;
        if rows == 0 || cols == 0 {
            return Err(GpuError::Invalid(format!(
                "{label}: empty matrix {rows}x{cols}"
            )));
        }
        if !cols.is_multiple_of(ty.block_size()) {
            return Err(GpuError::Invalid(format!(
                "{label}: {cols} columns is not a whole number of {ty} blocks"
            )));
        }
        let row_bytes = cols / ty.block_size() * ty.type_size();
        let expected = rows.checked_mul(row_bytes);
        if expected != Some(bytes.len()) {
            return Err(GpuError::Invalid(format!(
                "{label}: {} bytes of {ty} data for {rows}x{cols}",
                bytes.len()
            )));
        }
        let limit = gpu.max_binding;
        let fits = |r: usize| {
            layout
                .bytes(r as u64, cols as u64)
                .is_some_and(|(q, s)| q <= limit && s <= limit)
        };
        if !fits(1) {
            let (q, _) = layout.bytes(1, cols as u64).unwrap_or((u64::MAX, 0));
            return Err(GpuError::TooLarge {
                what: format!("{label}: one row"),
                bytes: q,
                limit,
            });
        }
        // Rows per part: the estimate from the per-row size, then adjusted
        // down for the padding of the last unit / scale word.
        let (q1, s1) = layout.bytes(1, cols as u64).unwrap_or((1, 1));
        let est = (limit / q1.max(1)).min(limit / s1.max(1)).max(1);
        let mut per_part = usize::try_from(est).unwrap_or(usize::MAX).min(rows);
        while per_part > 1 && !fits(per_part) {
            per_part -= 1;
        }
        let mut parts = Vec::new();
        gpu.scoped(|| {
            let mut row0 = 0;
            while row0 < rows {
                let n = per_part.min(rows - row0);
                let part_bytes = &bytes[row0 * row_bytes..(row0 + n) * row_bytes];
                let packed = repack(ty, n, cols, part_bytes)
                    .map_err(|e| GpuError::Invalid(e.to_string()))?;
                let mk = |words: &[u32], what: &str| {
                    gpu.device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some(&format!("{label}[{}].{what}", parts.len())),
                            contents: bytemuck::cast_slice(words),
                            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                        })
                };
                let qs = mk(&packed.qs, "qs");
                let sc = mk(&packed.sc, "sc");
                parts.push(Part {
                    row0,
                    rows: n,
                    qs,
                    sc,
                });
                row0 += n;
            }
            Ok(())
        })?;
        Ok(QMatrix {
            ty,
            rows,
            cols,
            layout,
            parts,
        })
    }

    /// Number of row ranges the matrix was split into.
    pub fn n_parts(&self) -> usize {
        self.parts.len()
    }

    /// Bytes held on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.qs.size() + p.sc.size()).sum()
    }

    /// The first row and row count of each part.
    pub fn part_rows(&self) -> Vec<(usize, usize)> {
        self.parts.iter().map(|p| (p.row0, p.rows)).collect()
    }
}
