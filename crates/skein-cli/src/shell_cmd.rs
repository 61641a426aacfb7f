//! `skein shell`: an interactive prompt for the dht service, with the
//! one-letter commands of the original BitDrizzle shell as aliases for
//! people used to it (H help, LH lookup, JN join, LN leave, SZ size,
//! RI routing, W/R/D + L|N write/read/delete in the local or network store,
//! X exit). Each line runs the matching `skein dht` command.

use crate::dht_cmd::{self, DhtCommand, DhtTarget};
use clap::Args;
use std::io::{BufRead, Write};

#[derive(Args, Debug)]
pub struct ShellArgs {
    #[command(flatten)]
    pub target: DhtTarget,
}

pub const HELP: &str = "\
H                 this help
LH KEY            lookup: which node is responsible for KEY, in how many hops
JN ADDR           join the ring through ADDR (ID@HOST:TCP_PORT:UDP_PORT)
LN                leave the ring (keys go to the successor)
SZ                estimated ring size
RI                routing info: predecessor, successors, fingers
WL KEY VALUE      write to the local store     WN KEY VALUE  write to the network store
RL KEY            read from the local store    RN KEY        read from the network store
DL KEY            delete from the local store  DN KEY        delete from the network store
X                 exit
(long forms work too: lookup, join, leave, size, routing, put, get, delete)";

/// What one input line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Help,
    Exit,
    Empty,
    Run(String),
    Unknown(String),
}

/// Parses one line into a `skein dht` command line (without the target flags).
pub fn parse(line: &str) -> Line {
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return Line::Empty;
    };
    let rest: Vec<&str> = words.collect();
    let arg = |n: usize| rest.get(n).copied();
    let value = rest.get(1..).map(|v| v.join(" "));
    let cmd = |parts: &[Option<&str>]| -> Line {
        match parts.iter().copied().collect::<Option<Vec<&str>>>() {
            Some(parts) => Line::Run(parts.join("\u{1f}")),
            None => Line::Unknown(format!("{line:?} is missing an argument; H for help")),
        }
    };
    match first.to_ascii_uppercase().as_str() {
        "H" | "HELP" | "?" => Line::Help,
        "X" | "EXIT" | "QUIT" => Line::Exit,
        "LH" | "LOOKUP" => cmd(&[Some("lookup"), arg(0)]),
        "JN" | "JOIN" => cmd(&[Some("join"), arg(0)]),
        "LN" | "LEAVE" => cmd(&[Some("leave")]),
        "SZ" | "SIZE" => cmd(&[Some("size")]),
        "RI" | "ROUTING" => cmd(&[Some("routing")]),
        "WN" | "PUT" => cmd(&[
            Some("put"),
            arg(0),
            value.as_deref().filter(|v| !v.is_empty()),
        ]),
        "WL" => cmd(&[
            Some("put"),
            arg(0),
            value.as_deref().filter(|v| !v.is_empty()),
            Some("--local"),
        ]),
        "RN" | "GET" => cmd(&[Some("get"), arg(0)]),
        "RL" => cmd(&[Some("get"), arg(0), Some("--local")]),
        "DN" | "DELETE" => cmd(&[Some("delete"), arg(0)]),
        "DL" => cmd(&[Some("delete"), arg(0), Some("--local")]),
        other => Line::Unknown(format!("unknown command {other}; H for help")),
    }
}

#[derive(clap::Parser)]
struct OneCommand {
    #[command(subcommand)]
    command: DhtCommand,
}

pub fn run(args: ShellArgs) -> anyhow::Result<()> {
    use clap::Parser;
    println!(
        "skein dht shell on {} — H for help, X to exit",
        args.target.api
    );
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next() else {
            return Ok(());
        };
        match parse(&line?) {
            Line::Empty => {}
            Line::Help => println!("{HELP}"),
            Line::Exit => return Ok(()),
            Line::Unknown(why) => println!("{why}"),
            Line::Run(joined) => {
                let mut argv: Vec<String> = vec!["dht".into()];
                argv.extend(joined.split('\u{1f}').map(str::to_string));
                argv.extend(["--api".into(), args.target.api.clone()]);
                argv.extend(["--timeout-ms".into(), args.target.timeout_ms.to_string()]);
                match OneCommand::try_parse_from(&argv) {
                    Ok(one) => {
                        if let Err(error) = dht_cmd::run(one.command) {
                            println!("error: {error:#}");
                        }
                    }
                    Err(error) => println!("{error}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_letter_commands_map_to_dht_commands() {
        assert_eq!(parse("H"), Line::Help);
        assert_eq!(parse("x"), Line::Exit);
        assert_eq!(parse("  "), Line::Empty);
        assert_eq!(parse("LH k1"), Line::Run("lookup\u{1f}k1".into()));
        assert_eq!(
            parse("WN k hello world"),
            Line::Run("put\u{1f}k\u{1f}hello world".into())
        );
        assert_eq!(
            parse("WL k v"),
            Line::Run("put\u{1f}k\u{1f}v\u{1f}--local".into())
        );
        assert_eq!(parse("RL k"), Line::Run("get\u{1f}k\u{1f}--local".into()));
        assert_eq!(parse("DN k"), Line::Run("delete\u{1f}k".into()));
        assert_eq!(parse("SZ"), Line::Run("size".into()));
        assert!(
            matches!(parse("WN k"), Line::Unknown(_)),
            "a write needs a value"
        );
        assert!(matches!(parse("ZZ"), Line::Unknown(_)));
    }
}
