//! The fuzz targets without libFuzzer or sanitizers: every corpus input, then a fixed number of
//! seeded mutations of them, through the same functions the fuzz targets call. CI runs this
//! (docs/reliability.md says why); a panic prints the input, saves it under
//! `fuzz/artifacts/<target>/` and fails the run.
//!
//! `replay [--iterations N] [--seed S] [target ...]` (default: every target, 20000, seed 1).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use routeplane_fuzz::TARGETS;

/// Bytes that matter to the grammars under test.
const INTERESTING: &[u8] = b"{}[]\",:/\\\n\0=&%.-_*!()<>~ 019azAZ\xff";

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize) % n.max(1)
    }

    fn byte(&mut self) -> u8 {
        if self.below(2) == 0 {
            INTERESTING[self.below(INTERESTING.len())]
        } else {
            self.below(256) as u8
        }
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.byte();
            }
            2 => {
                let i = rng.below(len + 1);
                let b = rng.byte();
                input.insert(i, b);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i) + 1;
                input.drain(i..i + n.min(16));
            }
            4 if len > 0 => {
                // Repeat a slice: deep nesting, long tokens.
                let i = rng.below(len);
                let n = (rng.below(len - i) + 1).min(32);
                let slice = input[i..i + n].to_vec();
                for _ in 0..rng.below(64) {
                    input.splice(i..i, slice.iter().copied());
                }
            }
            _ if !other.is_empty() => {
                // Splice in part of another corpus input.
                let i = rng.below(len + 1);
                let j = rng.below(other.len());
                let n = rng.below(other.len() - j) + 1;
                input.splice(i..i, other[j..j + n].iter().copied());
            }
            _ => {}
        }
    }
}

fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn main() -> ExitCode {
    let mut iterations = 20_000usize;
    let mut seed = 1u64;
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iterations" => iterations = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            name => only.push(name.to_string()),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Findings are reported once, with their input, below.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for (name, target) in TARGETS {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let seeds = corpus(&root.join("corpus").join(name));
        if seeds.is_empty() {
            eprintln!("{name}: no corpus in fuzz/corpus/{name}");
            failed = true;
            continue;
        }
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let started = std::time::Instant::now();
        let mut runs = 0usize;
        let mut run = |input: &[u8]| {
            runs += 1;
            if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
                let dir = root.join("artifacts").join(name);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("replay-crash-{runs}"));
                let _ = std::fs::write(&path, input);
                eprintln!(
                    "{name}: PANIC on input {:?} (saved to {})",
                    String::from_utf8_lossy(input),
                    path.display()
                );
                failed = true;
            }
        };
        for input in &seeds {
            run(input);
        }
        for _ in 0..iterations {
            let mut input = seeds[rng.below(seeds.len())].clone();
            let other = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, &mut input, other);
            run(&input);
        }
        eprintln!(
            "{name}: {runs} inputs ({} seeds) in {:.1} s",
            seeds.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
