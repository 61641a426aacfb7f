fn main() -> std::process::ExitCode {
    skein_cli::main_with(skein_cli::builtin_services())
}
