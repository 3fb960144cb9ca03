//! Times gzip inflaters on one gzip file: flate2 with the backend this binary was built with
//! (`zlib-rs` or `zlib-ng`), ISA-L (`isal-rs`, what imgtar uses) and libdeflate
//! (`libdeflater`, whole buffers only). Each inflater decompresses the whole file `RUNS`
//! times, interleaved; the output is counted and checked against the first inflater's (size
//! and a checksum), so that a wrong decoder cannot look fast.
//!
//! Usage: inflate-compare FILE.gz RUNS [NAME...]   (names: flate2 isal libdeflate)
//! Prints one line per run: `<name> <seconds> <MiB/s of output>`.

use std::io::Read;
use std::time::Instant;

/// A 64-bit FNV-1a checksum of every 64th byte of the output (by its offset, so that it does
/// not depend on how the output was cut into reads), and the output's size: enough to catch a
/// decoder that goes wrong, cheap next to inflate.
struct Sum {
    n: u64,
    h: u64,
}

impl Default for Sum {
    fn default() -> Self {
        Sum {
            n: 0,
            h: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl Sum {
    fn add(&mut self, b: &[u8]) {
        let skip = ((64 - self.n % 64) % 64) as usize;
        for &x in b.iter().skip(skip).step_by(64) {
            self.h = (self.h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3);
        }
        self.n += b.len() as u64;
    }
}

/// Reads `r` to its end in 256 KiB steps (what imgtar's layer walk asks of its decoder).
fn drain<R: Read>(mut r: R) -> Sum {
    let mut buf = vec![0u8; 256 << 10];
    let mut sum = Sum::default();
    loop {
        match r.read(&mut buf) {
            Ok(0) => return sum,
            Ok(n) => sum.add(&buf[..n]),
            Err(e) => panic!("inflate failed: {e}"),
        }
    }
}

fn run(name: &str, data: &[u8]) -> Sum {
    match name {
        "flate2" => drain(flate2::read::MultiGzDecoder::new(data)),
        "isal" => drain(isal::read::GzipDecoder::new(data)),
        "libdeflate" => {
            // Whole buffers: the output's size from the gzip trailer (ISIZE, mod 2^32).
            let isize = u32::from_le_bytes(data[data.len() - 4..].try_into().unwrap()) as usize;
            let mut out = vec![0u8; isize];
            let n = libdeflater::Decompressor::new()
                .gzip_decompress(data, &mut out)
                .expect("libdeflate failed");
            let mut sum = Sum::default();
            for c in out[..n].chunks(256 << 10) {
                sum.add(c);
            }
            sum
        }
        other => panic!("unknown inflater {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(runs)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: inflate-compare FILE.gz RUNS [flate2|isal|libdeflate...]");
        std::process::exit(2);
    };
    let runs: usize = runs.parse().expect("RUNS");
    let names: Vec<&str> = if args.len() > 3 {
        args[3..].iter().map(String::as_str).collect()
    } else {
        vec!["flate2", "isal", "libdeflate"]
    };
    let data = std::fs::read(path).expect("reading the input");
    let backend = if cfg!(feature = "zlib-ng") {
        "zlib-ng"
    } else {
        "zlib-rs"
    };
    let mut want: Option<(u64, u64)> = None;
    for _ in 0..runs {
        for name in &names {
            let t = Instant::now();
            let sum = run(name, &data);
            let s = t.elapsed().as_secs_f64();
            match want {
                None => want = Some((sum.n, sum.h)),
                Some(w) => assert_eq!(w, (sum.n, sum.h), "{name} inflated something else"),
            }
            let label = if *name == "flate2" {
                format!("flate2-{backend}")
            } else {
                (*name).to_string()
            };
            println!("{label} {s:.3} {:.0}", sum.n as f64 / s / 1048576.0);
        }
    }
}
