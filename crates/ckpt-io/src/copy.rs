//! Zero-copy transfers between files: `copy_file_range` (Linux, through `rustix`'s safe
//! wrapper) with positioned offsets on both sides, falling back to a buffered `pread`/`pwrite`
//! copy where the kernel or the filesystem refuses (`EXDEV`, `EINVAL`, `ENOSYS`,
//! `EOPNOTSUPP`), or everywhere with [`CopyMode::Buffered`].
//!
//! The copy never moves either file's cursor and never checks what it copies: callers that
//! copy checksummed data must check it themselves (reading the same bytes through the page
//! cache, e.g. on another thread) before they commit the output.

use std::fs::File;
use std::io;

/// How [`copy_range`] moves bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CopyMode {
    /// `copy_file_range` where the platform has it, the buffered copy where it refuses.
    #[default]
    Auto,
    /// Always the buffered copy (the fallback path, also for tests).
    Buffered,
}

/// What [`copy_range`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Bytes moved by the kernel (`copy_file_range`).
    pub zero_copy: u64,
    /// Bytes moved through a user-space buffer.
    pub buffered: u64,
}

/// Errors of `copy_file_range` that mean "not here": copy through a buffer instead.
pub fn is_unsupported(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        let Some(code) = e.raw_os_error() else {
            return false;
        };
        let errno = Errno::from_raw_os_error(code);
        [Errno::XDEV, Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP].contains(&errno)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        true
    }
}

/// Copies `len` bytes from `src` at `src_off` to `dst` at `dst_off` (see the module docs),
/// adding to `stats`. A source shorter than `src_off + len` is an `UnexpectedEof` error.
pub fn copy_range(
    src: &File,
    src_off: u64,
    dst: &File,
    dst_off: u64,
    len: u64,
    mode: CopyMode,
    stats: &mut CopyStats,
) -> io::Result<()> {
    let (mut so, mut d_o, mut left) = (src_off, dst_off, len);
    #[cfg(target_os = "linux")]
    if mode == CopyMode::Auto {
        while left > 0 {
            let want = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
            match rustix::fs::copy_file_range(src, Some(&mut so), dst, Some(&mut d_o), want) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the source ends before byte {}", src_off + len),
                    ))
                }
                // rustix advanced both offsets
                Ok(n) => {
                    left -= n as u64;
                    stats.zero_copy += n as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    let e = io::Error::from(e);
                    if is_unsupported(&e) {
                        break;
                    }
                    return Err(e);
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = mode;
    buffered(src, so, dst, d_o, left)?;
    stats.buffered += left;
    Ok(())
}

#[cfg(unix)]
fn buffered(src: &File, mut so: u64, dst: &File, mut d_o: u64, mut left: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(left.min(1 << 20)).unwrap_or(1 << 20)];
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        src.read_exact_at(&mut buf[..n], so)?;
        dst.write_all_at(&buf[..n], d_o)?;
        so += n as u64;
        d_o += n as u64;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(windows)]
fn buffered(src: &File, so: u64, dst: &File, d_o: u64, left: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut buf = vec![0u8; usize::try_from(left.min(1 << 20)).unwrap_or(1 << 20)];
    let (mut so, mut d_o, mut left) = (so, d_o, left);
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let mut got = 0;
        while got < n {
            match src.seek_read(&mut buf[got..n], so + got as u64)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                k => got += k,
            }
        }
        let mut put = 0;
        while put < n {
            put += dst.seek_write(&buf[put..n], d_o + put as u64)?;
        }
        so += n as u64;
        d_o += n as u64;
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_modes_copy_the_same_bytes_at_the_given_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&src_path, &data).unwrap();
        let src = File::open(&src_path).unwrap();
        for mode in [CopyMode::Auto, CopyMode::Buffered] {
            let dst_path = dir.path().join(format!("dst-{mode:?}"));
            let dst = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&dst_path)
                .unwrap();
            std::io::Write::write_all(&mut &dst, b"head").unwrap();
            let mut st = CopyStats::default();
            copy_range(&src, 1000, &dst, 4, 2_500_000, mode, &mut st).unwrap();
            copy_range(&src, 0, &dst, 4 + 2_500_000, 10, mode, &mut st).unwrap();
            assert_eq!(st.zero_copy + st.buffered, 2_500_010);
            if mode == CopyMode::Buffered {
                assert_eq!(st.zero_copy, 0);
            }
            // the cursor did not move: the next write lands after "head"
            std::io::Write::write_all(&mut &dst, b"H").unwrap();
            let got = std::fs::read(&dst_path).unwrap();
            let mut expect = b"head".to_vec();
            expect.extend_from_slice(&data[1000..2_501_000]);
            expect.extend_from_slice(&data[..10]);
            expect[4] = b'H';
            assert_eq!(got, expect);
            let e = copy_range(&src, 2_999_990, &dst, 0, 100, mode, &mut st).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        }
    }

    #[test]
    fn refusals_fall_back() {
        for code in [
            libc_code("EXDEV"),
            libc_code("EINVAL"),
            libc_code("ENOSYS"),
            libc_code("EOPNOTSUPP"),
        ] {
            assert!(
                is_unsupported(&io::Error::from_raw_os_error(code)),
                "{code}"
            );
        }
        #[cfg(target_os = "linux")]
        {
            assert!(!is_unsupported(&io::Error::from_raw_os_error(libc_code(
                "EIO"
            ))));
            assert!(!is_unsupported(&io::Error::from_raw_os_error(libc_code(
                "ENOSPC"
            ))));
        }
    }

    /// Linux errno values (asm-generic).
    fn libc_code(name: &str) -> i32 {
        match name {
            "EIO" => 5,
            "EXDEV" => 18,
            "EINVAL" => 22,
            "ENOSPC" => 28,
            "ENOSYS" => 38,
            "EOPNOTSUPP" => 95,
            _ => unreachable!(),
        }
    }
}
