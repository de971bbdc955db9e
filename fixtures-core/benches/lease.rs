//! Cost of leasing a suite fixture that is already set up (lease + release), from one thread
//! and from 2 threads at once. `cargo bench -p fixtures-core --bench lease`.

use std::time::Instant;

use fixtures_core::prelude::*;

#[fixture(scope = suite)]
fn shared() -> Vec<u8> {
    vec![1, 2, 3]
}

#[fixture(scope = module)]
fn per_module() -> u64 {
    7
}

fn median_ns_per_op(mut f: impl FnMut(), ops: u32, batches: usize) -> f64 {
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ops {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(ops)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[batches / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick") || std::env::var_os("CI_QUICK").is_some();
    let (ops, batches) = if quick { (10_000, 5) } else { (200_000, 21) };
    let _warm = shared();
    let one = median_ns_per_op(
        || {
            let l = shared();
            std::hint::black_box(&*l);
        },
        ops,
        batches,
    );
    let _warm_module = per_module();
    let module = median_ns_per_op(
        || {
            let l = per_module();
            std::hint::black_box(&*l);
        },
        ops,
        batches,
    );
    // From a thread named like a test, as libtest names them: includes the per-test bookkeeping.
    let as_test = std::thread::Builder::new()
        .name("bench::a_test".into())
        .spawn(move || {
            median_ns_per_op(
                || {
                    let l = shared();
                    std::hint::black_box(&*l);
                },
                ops,
                batches,
            )
        })
        .unwrap()
        .join()
        .unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                median_ns_per_op(
                    || {
                        let l = shared();
                        std::hint::black_box(&*l);
                    },
                    ops,
                    batches,
                )
            })
        })
        .collect();
    let contended: Vec<f64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!(
        "lease+release of a ready suite fixture, 1 thread:   {one:>8.0} ns/op (median of {batches} × {ops})"
    );
    println!(
        "lease+release of a ready suite fixture, in a test:  {as_test:>8.0} ns/op (with per-test bookkeeping)"
    );
    println!("lease+release of a ready module fixture, 1 thread:  {module:>8.0} ns/op");
    println!(
        "lease+release of a ready suite fixture, 2 threads:  {:>8.0} ns/op per thread",
        contended.iter().sum::<f64>() / contended.len() as f64
    );
    assert!(
        one.max(as_test) < 10_000.0,
        "a lease must cost well under 10 µs, measured {one:.0} ns"
    );
}
