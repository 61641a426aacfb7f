//! Docker and compose from a test: the skein image built from this build's
//! binary, compose projects with unique names that are taken down (with
//! their networks and volumes) when dropped, and the faults the tests
//! inject: kill, start, restart, network disconnect and connect.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const SKEIN: &str = env!("CARGO_BIN_EXE_skein");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a command that must succeed; its stdout.
pub fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The compose command this machine has: the v2 plugin (`docker compose`)
/// or the v1 binary (`docker-compose`); `Err` says why the tests must skip.
pub fn compose_command() -> Result<Vec<String>, String> {
    let engine = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match engine {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Err(format!("no docker engine answers: {}", text(&out).trim())),
        Err(e) => return Err(format!("no docker command: {e}")),
    }
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("docker", &["compose", "version"]) {
        Ok(vec!["docker".into(), "compose".into()])
    } else if works("docker-compose", &["version"]) {
        Ok(vec!["docker-compose".into()])
    } else {
        Err("neither `docker compose` nor `docker-compose` is installed".into())
    }
}

/// An image of this build's `skein`, built by deploy/build-image.sh, removed on drop.
pub struct Image {
    pub tag: String,
}

impl Image {
    pub fn build(name: &str) -> Image {
        let tag = format!("skein-test-{name}:{}", std::process::id());
        let started = Instant::now();
        let script = repo_root().join("deploy/build-image.sh");
        must(
            "bash",
            &[script.to_str().unwrap(), "--binary", SKEIN, "--tag", &tag],
        );
        eprintln!(
            "image {tag} built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Image { tag }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = run("docker", &["image", "rm", "-f", &self.tag]);
    }
}

/// A compose project under a unique name; `down -v` on drop removes its
/// containers, networks and volumes, and the test's own networks go too.
pub struct Project {
    pub name: String,
    compose: Vec<String>,
    file: PathBuf,
    env: Vec<(String, String)>,
    extra_networks: std::sync::Mutex<Vec<String>>,
    containers: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl Project {
    pub fn new(compose: Vec<String>, service: &str, file: &str, image: &Image) -> Project {
        let name = format!("skeintest{service}{}", std::process::id());
        Project {
            name,
            compose,
            file: repo_root().join(file),
            env: vec![
                ("SKEIN_IMAGE".into(), image.tag.clone()),
                ("SKEIN_CLUSTER_SECRET".into(), "c0ffee".repeat(8)),
            ],
            extra_networks: Default::default(),
            containers: Default::default(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.compose[0]);
        command
            .args(&self.compose[1..])
            .args(["--project-name", &self.name, "--file"])
            .arg(&self.file)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command.output().expect("compose runs")
    }

    pub fn must(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "compose {} failed: {}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The container of `service`; kept, since faults stop and start the
    /// same container (and compose is slow to ask).
    pub fn container(&self, service: &str) -> String {
        let mut known = self.containers.lock().unwrap();
        if let Some(id) = known.get(service) {
            return id.clone();
        }
        let id = self.must(&["ps", "-q", service]);
        assert!(!id.is_empty(), "no container for {service}");
        known.insert(service.to_string(), id.clone());
        id
    }

    /// The compose network every node shares.
    pub fn network(&self) -> String {
        format!("{}_net", self.name)
    }

    /// A network of the test's own, removed on drop.
    pub fn side_network(&self, suffix: &str) -> String {
        let name = format!("{}_{suffix}", self.name);
        must("docker", &["network", "create", &name]);
        self.extra_networks.lock().unwrap().push(name.clone());
        name
    }

    /// The container's address on `network`, if attached.
    pub fn ip(&self, service: &str, network: &str) -> Option<String> {
        let format = format!("{{{{with index .NetworkSettings.Networks \"{network}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}");
        let ip = must(
            "docker",
            &["inspect", "--format", &format, &self.container(service)],
        );
        (!ip.is_empty()).then_some(ip)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{}",
                text(&self.compose(&["logs", "--no-color", "--tail", "30"]))
            );
        }
        let out = self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
        if !out.status.success() {
            eprintln!("compose down failed: {}", text(&out));
        }
        for network in self.extra_networks.lock().unwrap().iter() {
            let _ = run("docker", &["network", "rm", network]);
        }
    }
}

/// `docker ARGS…` on one container.
pub fn docker(args: &[&str]) -> String {
    must("docker", args)
}

/// Waits until `ready` holds, at most `within`; panics naming `what` and the bound.
pub fn wait_for(what: &str, within: Duration, mut ready: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if ready() {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not within {within:?}");
}
