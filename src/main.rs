//! Parse arguments, run, map the result to an exit code. Nothing else.

fn main() {
    std::process::exit(inferguard::cli::main_exit_code());
}
