// mimalloc: extraction, the cache and tree-sitter's parser make millions of
// small allocations across threads; glibc's malloc spent a fifth of a run on them
// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // SAFETY: first thing in the process, before any tree-sitter call.
    unsafe { migverify::migration::use_mimalloc_for_parsing() };
    migverify::cli::main()
}
