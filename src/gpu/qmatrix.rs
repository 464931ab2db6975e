//! Weight matrices on the GPU, in the layout of [`crate::quant::repack`].

use super::{Gpu, GpuError};
use crate::quant::GgmlType;
use crate::quant::repack::{Layout, repack};

/// One row range of a matrix, small enough to be bound whole.
pub(crate) struct Part {
    pub row0: usize,
    pub rows: usize,
    pub qs: wgpu::Buffer,
    pub sc: wgpu::Buffer,
}

/// A weight matrix `W[rows][cols]` (GGUF dims `[cols, rows]`) uploaded in the
/// GPU layout, split by whole rows into parts so that no binding exceeds
/// `gpu.max_binding` (an even number of rows per part where possible, so
/// that kernels taking rows in pairs never straddle two parts).
pub struct QMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub(crate) layout: Layout,
    pub(crate) parts: Vec<Part>,
}

/// ggml bytes repacked and written per upload piece: bounds the host memory
/// a load needs besides the memory map (the piece, its repacked copy, and
/// wgpu's staging of it).
const PIECE_BYTES: usize = 4 << 20;
/// Queued writes are flushed (submitted and waited for) every this many
/// bytes, so wgpu's staging memory stays bounded too.
const FLUSH_BYTES: u64 = 32 << 20;

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
        let row_bytes = Self::row_bytes(ty, cols, label)?;
        let expected = rows.checked_mul(row_bytes);
        if expected != Some(bytes.len()) {
            return Err(GpuError::Invalid(format!(
                "{label}: {} bytes of {ty} data for {rows}x{cols}",
                bytes.len()
            )));
        }
        Self::upload_rows(
            gpu,
            ty,
            rows,
            cols,
            |r| &bytes[r * row_bytes..(r + 1) * row_bytes],
            label,
        )
    }

    /// Uploads the rows of `sources` one after the other (all of type `ty`,
    /// `cols` wide): the concatenation of several matrices, e.g. Q, K and V.
    pub fn upload_concat(
        gpu: &Gpu,
        ty: GgmlType,
        cols: usize,
        sources: &[&[u8]],
        label: &str,
    ) -> Result<QMatrix, GpuError> {
        let row_bytes = Self::row_bytes(ty, cols, label)?;
        let mut starts = Vec::with_capacity(sources.len());
        let mut rows = 0;
        for s in sources {
            if !s.len().is_multiple_of(row_bytes) {
                return Err(GpuError::Invalid(format!(
                    "{label}: {} bytes is not a whole number of {ty} rows of {cols}",
                    s.len()
                )));
            }
            starts.push(rows);
            rows += s.len() / row_bytes;
        }
        Self::upload_rows(
            gpu,
            ty,
            rows,
            cols,
            |r| {
                let i = starts.partition_point(|&s| s <= r) - 1;
                let o = (r - starts[i]) * row_bytes;
                &sources[i][o..o + row_bytes]
            },
            label,
        )
    }

    /// Uploads two matrices of the same shape with their rows interleaved:
    /// row `2i` is row `i` of `a`, row `2i + 1` row `i` of `b` (gate and up
    /// projections, so that one thread computes both halves of a SwiGLU).
    pub fn upload_interleaved(
        gpu: &Gpu,
        ty: GgmlType,
        cols: usize,
        a: &[u8],
        b: &[u8],
        label: &str,
    ) -> Result<QMatrix, GpuError> {
        let row_bytes = Self::row_bytes(ty, cols, label)?;
        if a.len() != b.len() || !a.len().is_multiple_of(row_bytes) {
            return Err(GpuError::Invalid(format!(
                "{label}: interleaving {} and {} bytes of {ty} rows of {cols}",
                a.len(),
                b.len()
            )));
        }
        let rows = 2 * (a.len() / row_bytes);
        Self::upload_rows(
            gpu,
            ty,
            rows,
            cols,
            |r| {
                let src = if r % 2 == 0 { a } else { b };
                let o = (r / 2) * row_bytes;
                &src[o..o + row_bytes]
            },
            label,
        )
    }

    fn row_bytes(ty: GgmlType, cols: usize, label: &str) -> Result<usize, GpuError> {
        if cols == 0 || !cols.is_multiple_of(ty.block_size()) {
            return Err(GpuError::Invalid(format!(
                "{label}: {cols} columns is not a whole number of {ty} blocks"
            )));
        }
        Ok(cols / ty.block_size() * ty.type_size())
    }

    /// The layout of `ty` and the rows per part when a `rows` x `cols`
    /// matrix is split so that no part's `qs` or `sc` exceeds `limit` bytes:
    /// as many rows as fit, then adjusted down for the padding of the last
    /// unit / scale word, and to an even number (pairs of rows stay in one
    /// part).
    fn rows_per_part(
        ty: GgmlType,
        rows: usize,
        cols: usize,
        limit: u64,
        label: &str,
    ) -> Result<(Layout, usize), GpuError> {
        let layout = Layout::of(ty).map_err(|_| GpuError::Unsupported {
            ty,
            reason: "no GPU layout for this type yet".into(),
        })?;
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
        let (q1, s1) = layout.bytes(1, cols as u64).unwrap_or((1, 1));
        let est = (limit / q1.max(1)).min(limit / s1.max(1)).max(1);
        let mut per_part = usize::try_from(est).unwrap_or(usize::MAX).min(rows);
        while per_part > 1 && !fits(per_part) {
            per_part -= 1;
        }
        if per_part > 1 && per_part < rows && per_part % 2 == 1 {
            per_part -= 1;
        }
        Ok((layout, per_part))
    }

    /// The GPU bytes [`QMatrix::upload_rows`] allocates for a `rows` x
    /// `cols` matrix of `ty` on an adapter whose bindings hold `limit`
    /// bytes: the same parts, each a `qs` and an `sc` buffer padded to 16
    /// bytes. Errors as the upload does when a row can't be bound.
    pub fn gpu_bytes_for(
        ty: GgmlType,
        rows: usize,
        cols: usize,
        limit: u64,
        label: &str,
    ) -> Result<u64, GpuError> {
        let (layout, per_part) = Self::rows_per_part(ty, rows, cols, limit, label)?;
        let overflow = || GpuError::Invalid(format!("{label}: size overflow"));
        let part = |n: usize| -> Result<u64, GpuError> {
            let (q, s) = layout.bytes(n as u64, cols as u64).ok_or_else(overflow)?;
            Ok(q.next_multiple_of(16).max(16) + s.next_multiple_of(16).max(16))
        };
        let per_part = per_part.max(1);
        let full = (rows / per_part) as u64;
        let mut total = full.checked_mul(part(per_part)?).ok_or_else(overflow)?;
        let rest = rows % per_part;
        if rest > 0 {
            total = total.checked_add(part(rest)?).ok_or_else(overflow)?;
        }
        Ok(total)
    }

    /// Uploads `rows` rows, row `r` given (as ggml bytes) by `row(r)`. The
    /// rows are repacked and written piece by piece, so the host memory used
    /// is bounded by a few [`PIECE_BYTES`] whatever the matrix size.
    pub fn upload_rows<'a>(
        gpu: &Gpu,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        row: impl Fn(usize) -> &'a [u8],
        label: &str,
    ) -> Result<QMatrix, GpuError> {
        if rows == 0 || cols == 0 {
            return Err(GpuError::Invalid(format!(
                "{label}: empty matrix {rows}x{cols}"
            )));
        }
        let row_bytes = Self::row_bytes(ty, cols, label)?;
        let (layout, per_part) = Self::rows_per_part(ty, rows, cols, gpu.max_binding, label)?;
        // Rows per piece: a multiple of 8, so that pieces start on whole
        // 16-byte units and whole pairs of blocks (see `exact` below).
        let piece_rows = (PIECE_BYTES / row_bytes.max(1)).max(8) / 8 * 8;
        let mut parts = Vec::new();
        let mut staged = 0u64;
        let mut buf = Vec::new();
        gpu.scoped(|| {
            let mut row0 = 0;
            while row0 < rows {
                let n = per_part.min(rows - row0);
                let (qb, sb) = layout
                    .bytes(n as u64, cols as u64)
                    .ok_or_else(|| GpuError::Invalid(format!("{label}: size overflow")))?;
                let mk = |bytes: u64, what: &str| {
                    gpu.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(&format!("{label}[{}].{what}", parts.len())),
                        size: bytes.next_multiple_of(16).max(16),
                        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                };
                let qs = mk(qb, "qs");
                let sc = mk(sb, "sc");
                // A piece can be written at its own offset when the layout
                // of r0 rows followed by m rows is exactly the layout of
                // r0 + m rows (whole units and scale words, no padding).
                let offsets = |r: usize| match r {
                    0 => (0, 0),
                    _ => layout.bytes(r as u64, cols as u64).unwrap_or((0, 0)),
                };
                let exact = |r: usize, m: usize| {
                    let (a, b, c) = (offsets(r), offsets(m), offsets(r + m));
                    a.0 + b.0 == c.0 && (layout.block_elems == 0 || a.1 + b.1 == c.1)
                };
                let step = if exact(piece_rows, piece_rows) && exact(piece_rows, n % piece_rows) {
                    piece_rows
                } else {
                    n
                };
                let mut r = 0;
                while r < n {
                    let m = step.min(n - r);
                    buf.clear();
                    for i in row0 + r..row0 + r + m {
                        buf.extend_from_slice(row(i));
                    }
                    let packed = repack(ty, m, cols, &buf)
                        .map_err(|e| GpuError::Invalid(format!("{label}: {e}")))?;
                    let (qo, so) = offsets(r);
                    let qdata: &[u8] = bytemuck::cast_slice(&packed.qs);
                    gpu.queue.write_buffer(&qs, qo, qdata);
                    staged += qdata.len() as u64;
                    if layout.block_elems != 0 || r == 0 {
                        let sdata: &[u8] = bytemuck::cast_slice(&packed.sc);
                        let sdata = &sdata[..sdata.len().min((sc.size() - so) as usize)];
                        gpu.queue.write_buffer(&sc, so, sdata);
                        staged += sdata.len() as u64;
                    }
                    if staged >= FLUSH_BYTES {
                        gpu.queue.submit([]);
                        gpu.device.poll(wgpu::PollType::wait_indefinitely())?;
                        staged = 0;
                    }
                    r += m;
                }
                parts.push(Part {
                    row0,
                    rows: n,
                    qs,
                    sc,
                });
                row0 += n;
            }
            if staged > 0 {
                gpu.queue.submit([]);
                gpu.device.poll(wgpu::PollType::wait_indefinitely())?;
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
    #[cfg(feature = "testing")]
    pub fn n_parts(&self) -> usize {
        self.parts.len()
    }

    /// Bytes held on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.qs.size() + p.sc.size()).sum()
    }

    /// The first row and row count of each part.
    #[cfg(feature = "testing")]
    pub fn part_rows(&self) -> Vec<(usize, usize)> {
        self.parts.iter().map(|p| (p.row0, p.rows)).collect()
    }
}
