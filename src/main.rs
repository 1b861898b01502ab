//! The `stripe-mirror` command; everything lives in the library (see `cli`).

fn main() -> std::process::ExitCode {
    stripe_mirror::cli::main()
}
