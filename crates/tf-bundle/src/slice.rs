//! Tensor slices (`TensorSliceProto` semantics, docs/tf-bundle-format.md §4.2) and reassembly
//! of partitioned tensors (docs/tf-bundle-format.md §4.5): validation against the full shape, overlap and coverage checks, and a
//! row-major copy by element (bytes by element size, strings by element).

use crate::error::{Error, ErrorKind, Part, Result};
use crate::proto::{tensor_slice_proto::extent::HasLength, TensorSliceProto};

/// A slice as stored: per dimension `(start, length)` with `length == -1` meaning the whole
/// dimension (TF's `kFullExtent`). Keys are computed from exactly these numbers.
pub type Extents = Vec<(i64, i64)>;

/// The stored extents of a `TensorSliceProto` (absent length ⇒ full, `-1`).
pub fn from_proto(p: &TensorSliceProto) -> Extents {
    p.extent
        .iter()
        .map(|e| match e.has_length {
            Some(HasLength::Length(l)) => (e.start, l),
            None => (e.start, -1),
        })
        .collect()
}

/// A `TensorSliceProto` for extents (full dims as empty extents, as TF writes them).
pub fn to_proto(ext: &[(i64, i64)]) -> TensorSliceProto {
    TensorSliceProto {
        extent: ext
            .iter()
            .map(|&(start, length)| {
                if length == -1 && start == 0 {
                    Default::default()
                } else {
                    crate::proto::tensor_slice_proto::Extent {
                        start,
                        has_length: Some(HasLength::Length(length)),
                    }
                }
            })
            .collect(),
    }
}

/// TF's `TensorSlice::DebugString` style: `0,2:-` (start,length per dim; `-` = full).
pub fn display(ext: &[(i64, i64)]) -> String {
    if ext.is_empty() {
        return "(scalar)".into();
    }
    ext.iter()
        .map(|&(s, l)| {
            if l == -1 {
                "-".to_string()
            } else {
                format!("{s},{l}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// A slice resolved against the full shape: per dimension `(start, length)` in elements.
pub type Region = Vec<(u64, u64)>;

/// Validates stored extents against the full `shape` and resolves full dimensions.
pub fn resolve(ext: &[(i64, i64)], shape: &[u64]) -> Result<Region> {
    if ext.len() != shape.len() {
        return Err(Error::new(ErrorKind::Slices(format!(
            "slice {} has rank {}, the tensor has rank {}",
            display(ext),
            ext.len(),
            shape.len()
        ))));
    }
    let mut out = Vec::with_capacity(ext.len());
    for (d, (&(start, length), &dim)) in ext.iter().zip(shape).enumerate() {
        if start == 0 && length == -1 {
            out.push((0, dim));
            continue;
        }
        if start < 0 || length <= 0 {
            return Err(Error::new(ErrorKind::Slices(format!(
                "slice {}: expected non-negative start and positive length in dimension {d}, found start {start}, length {length}",
                display(ext)
            ))));
        }
        let end = (start as u64).checked_add(length as u64);
        if end.is_none_or(|e| e > dim) {
            return Err(Error::new(ErrorKind::Slices(format!(
                "slice {}: extent in dimension {d} out of bounds: {start}+{length} > {dim}",
                display(ext)
            ))));
        }
        out.push((start as u64, length as u64));
    }
    Ok(out)
}

/// Number of elements of a region (checked).
pub fn region_elements(r: &[(u64, u64)]) -> Option<u64> {
    r.iter().try_fold(1u64, |acc, &(_, l)| acc.checked_mul(l))
}

/// If `region` is one contiguous run of the row-major tensor of shape `full` (every dimension
/// after some `k` taken whole, every dimension before `k` of length 1), the element offset of
/// its first element; `None` otherwise.
pub fn contiguous_start(full: &[u64], region: &[(u64, u64)]) -> Option<u64> {
    if full.len() != region.len() {
        return None;
    }
    let mut k = full.len();
    while k > 0 && region[k - 1] == (0, full[k - 1]) {
        k -= 1;
    }
    // dims k.. are whole; dim k-1 is the one partial dim; every dim before it must have length 1
    if k > 1 && region[..k - 1].iter().any(|&(_, l)| l != 1) {
        return None;
    }
    let mut start = 0u64;
    let mut stride = 1u64;
    for d in (0..full.len()).rev() {
        start = start.checked_add(region[d].0.checked_mul(stride)?)?;
        stride = stride.checked_mul(full[d])?;
    }
    Some(start)
}

fn overlaps(a: &[(u64, u64)], b: &[(u64, u64)]) -> bool {
    a.iter()
        .zip(b)
        .all(|(&(s1, l1), &(s2, l2))| s1 < s2.saturating_add(l2) && s2 < s1.saturating_add(l1))
}

/// Checks that `regions` (already resolved and in bounds) are pairwise disjoint and together
/// cover all `total` elements of the tensor.
pub fn check_cover(regions: &[Region], total: u64, stored: &[Extents]) -> Result<()> {
    // Disjointness: sweep over dimension 0 (rank-0 regions all overlap each other).
    let mut order: Vec<usize> = (0..regions.len()).collect();
    order.sort_by_key(|&i| regions[i].first().map_or(0, |r| r.0));
    for (oi, &i) in order.iter().enumerate() {
        let end0 = regions[i]
            .first()
            .map_or(u64::MAX, |r| r.0.saturating_add(r.1));
        for &j in &order[oi + 1..] {
            if regions[j].first().is_some_and(|r| r.0 >= end0) {
                break;
            }
            if overlaps(&regions[i], &regions[j]) {
                return Err(Error::new(ErrorKind::Slices(format!(
                    "overlapping slices: existing slice = {}, new slice = {}",
                    display(&stored[i]),
                    display(&stored[j])
                ))));
            }
        }
    }
    let mut sum: u64 = 0;
    for r in regions {
        sum = region_elements(r)
            .and_then(|n| sum.checked_add(n))
            .ok_or_else(|| Error::new(ErrorKind::Slices("slice element counts overflow".into())))?;
    }
    if sum != total {
        return Err(Error::new(ErrorKind::Slices(format!(
            "does not have sufficient slices to restore the full tensor: the {} stored slice(s) ({}) hold {sum} of {total} elements",
            stored.len(),
            stored.iter().map(|e| display(e)).collect::<Vec<_>>().join(" ")
        ))));
    }
    Ok(())
}

/// Copies a slice's row-major data `src` (shape = the region's lengths) into the row-major
/// full tensor `dst` (shape `full`). `unit` is the number of `T`s per element (the element
/// size for bytes, 1 for strings). Callers have checked the lengths; mismatches are errors.
pub fn copy_region<T: Clone>(
    dst: &mut [T],
    full: &[u64],
    region: &[(u64, u64)],
    src: &[T],
    unit: usize,
) -> Result<()> {
    let bad = || Error::corrupt(Part::Slice, "slice copy out of range");
    let n = region_elements(region).ok_or_else(bad)?;
    if (src.len() as u64) != n.checked_mul(unit as u64).ok_or_else(bad)? {
        return Err(bad());
    }
    if n == 0 {
        return Ok(());
    }
    let rank = full.len();
    if rank == 0 {
        dst.get_mut(..unit).ok_or_else(bad)?.clone_from_slice(src);
        return Ok(());
    }
    // Row-major strides of the full tensor, in elements.
    let mut strides = vec![1u64; rank];
    for d in (0..rank - 1).rev() {
        strides[d] = strides[d + 1].checked_mul(full[d + 1]).ok_or_else(bad)?;
    }
    let row = region[rank - 1].1 as usize * unit;
    let mut idx = vec![0u64; rank - 1]; // position inside the region, outer dims
    let mut s = 0usize;
    loop {
        let mut off: u64 = region[rank - 1].0;
        for d in 0..rank - 1 {
            off += (region[d].0 + idx[d]) * strides[d];
        }
        let d0 = usize::try_from(off).map_err(|_| bad())? * unit;
        dst.get_mut(d0..d0 + row)
            .ok_or_else(bad)?
            .clone_from_slice(src.get(s..s + row).ok_or_else(bad)?);
        s += row;
        // Advance the outer index (odometer).
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < region[d].1 {
                break;
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_and_cover() {
        let shape = [4u64, 3];
        let a = resolve(&[(0, 2), (0, -1)], &shape).unwrap();
        let b = resolve(&[(2, 2), (0, -1)], &shape).unwrap();
        assert_eq!(a, vec![(0, 2), (0, 3)]);
        let stored = vec![vec![(0, 2), (0, -1)], vec![(2, 2), (0, -1)]];
        check_cover(&[a.clone(), b], 12, &stored).unwrap();
        let e = check_cover(std::slice::from_ref(&a), 12, &stored[..1]).unwrap_err();
        assert!(e.to_string().contains("sufficient"), "{e}");
        let e = check_cover(&[a.clone(), a], 12, &stored).unwrap_err();
        assert!(e.to_string().contains("overlapping"), "{e}");
        assert!(resolve(&[(3, 2), (0, -1)], &shape).is_err());
        assert!(resolve(&[(0, 2)], &shape).is_err());
        assert!(resolve(&[(-1, 2), (0, -1)], &shape).is_err());
        assert!(resolve(&[(0, 0), (0, -1)], &shape).is_err());
    }

    #[test]
    fn copy_2x2_grid() {
        // A 4x6 tensor of values 0..24 split into four 2x3 blocks.
        let full = [4u64, 6];
        let want: Vec<u8> = (0..24).collect();
        let mut dst = vec![0u8; 24];
        for (r0, c0) in [(0u64, 0u64), (0, 3), (2, 0), (2, 3)] {
            let region = vec![(r0, 2), (c0, 3)];
            let src: Vec<u8> = (0..2)
                .flat_map(|r| (0..3).map(move |c| ((r0 + r) * 6 + c0 + c) as u8))
                .collect();
            copy_region(&mut dst, &full, &region, &src, 1).unwrap();
        }
        assert_eq!(dst, want);
    }

    #[test]
    fn contiguous_regions() {
        let full = [4u64, 3, 2];
        assert_eq!(contiguous_start(&full, &[(2, 2), (0, 3), (0, 2)]), Some(12));
        assert_eq!(contiguous_start(&full, &[(1, 1), (1, 2), (0, 2)]), Some(8));
        assert_eq!(contiguous_start(&full, &[(1, 1), (2, 1), (1, 1)]), Some(11));
        assert_eq!(contiguous_start(&full, &[(0, 4), (0, 3), (0, 2)]), Some(0));
        assert_eq!(contiguous_start(&full, &[(0, 2), (1, 2), (0, 2)]), None);
        assert_eq!(contiguous_start(&full, &[(0, 4), (0, 3), (0, 1)]), None);
        assert_eq!(contiguous_start(&[], &[]), Some(0));
    }

    #[test]
    fn proto_round_trip() {
        let ext = vec![(0, -1), (2, 2)];
        assert_eq!(from_proto(&to_proto(&ext)), ext);
    }
}
