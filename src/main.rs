fn main() -> std::process::ExitCode {
    migverify::cli::main()
}
