// mimalloc: extraction and the cache decode make millions of small
// allocations across threads; glibc malloc spends a fifth of a run on them
// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    migverify::cli::main()
}
