//! The deployment files hang together: every compose file and Kubernetes
//! manifest under deploy/ parses, names what the node expects (the DNS name
//! its peers are found under, the identity port, the health check the
//! binary has, ids from host names), and sizes its cluster and disruption
//! budget for the faults its service tolerates. The manifests cannot run
//! here (no Kubernetes); compose files are also checked by compose itself
//! when it is installed (most of this test's time: about 30 s for the four
//! files on the loaded 2-core VM).

use serde_yaml_ng::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const SKEIN: &str = env!("CARGO_BIN_EXE_skein");
const SERVICES: [&str; 4] = ["raft", "bftlist", "dht", "gossip"];
const HEALTH: [&str; 3] = ["/bin/skein", "status", "--this-node"];

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            value.apply_merge().unwrap();
            value
        })
        .collect()
}

use serde::Deserialize;

fn str_of<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut at = value;
    for key in path {
        at = &at[*key];
    }
    at.as_str()
        .unwrap_or_else(|| panic!("no string at {path:?}"))
}

/// Most members that may be down with the service still serving.
fn tolerated(service: &str, members: u64) -> u64 {
    match service {
        "raft" => (members - 1) / 2,
        "bftlist" => (members - 1) / 5,
        // r = 3 copies of each key: two nodes may go at once.
        "dht" => 2,
        _ => members / 3,
    }
}

fn env_of(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| (str_of(e, &["name"]).into(), str_of(e, &["value"]).into()))
        .collect()
}

fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn the_binary_has_the_health_check_the_files_use() {
    let out = Command::new(SKEIN)
        .args(["status", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--this-node"));
    let out = Command::new(SKEIN).arg("services").output().unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    for service in SERVICES {
        assert!(
            listed.contains(service),
            "{service} not in `skein services`"
        );
    }
}

#[test]
fn kubernetes_manifests_are_a_service_a_statefulset_and_a_budget_that_agree() {
    for service in SERVICES {
        let file = deploy(&format!("k8s/{service}.yaml"));
        let docs = documents(&file);
        let kinds: Vec<(&str, &str)> = docs
            .iter()
            .map(|d| (str_of(d, &["apiVersion"]), str_of(d, &["kind"])))
            .collect();
        assert_eq!(
            kinds,
            [
                ("v1", "Service"),
                ("apps/v1", "StatefulSet"),
                ("policy/v1", "PodDisruptionBudget")
            ],
            "{file:?}"
        );
        let (svc, set, pdb) = (&docs[0], &docs[1], &docs[2]);
        let name = str_of(svc, &["metadata", "name"]);
        assert_eq!(name, format!("skein-{service}"));
        assert_eq!(str_of(svc, &["spec", "clusterIP"]), "None", "headless");
        assert_eq!(svc["spec"]["publishNotReadyAddresses"], Value::Bool(true));
        assert_eq!(str_of(set, &["spec", "serviceName"]), name);
        let selector = &svc["spec"]["selector"];
        assert_eq!(&set["spec"]["selector"]["matchLabels"], selector);
        assert_eq!(&set["spec"]["template"]["metadata"]["labels"], selector);
        assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
        assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(9000));

        let pod = &set["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(container["args"][0].as_str(), Some("node"));
        for probe in ["readinessProbe", "livenessProbe"] {
            let command: Vec<&str> = container[probe]["exec"]["command"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{service}: no {probe}"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(command, HEALTH, "{service} {probe}");
        }
        let env = env_of(container);
        assert_eq!(lookup(&env, "SKEIN_SERVICE"), Some(service));
        assert_eq!(
            lookup(&env, "SKEIN_PEERS_DNS"),
            Some(format!("{name}:9000").as_str())
        );
        assert_eq!(lookup(&env, "SKEIN_ID_FROM_HOSTNAME"), Some("true"));
        assert_eq!(
            lookup(&env, "SKEIN_ID_OFFSET"),
            Some("1"),
            "pods count from 0"
        );
        assert_eq!(lookup(&env, "SKEIN_BIND"), Some("0.0.0.0"));
        let secret = lookup(&env, "SKEIN_CLUSTER_SECRET_FILE").expect("a cluster secret");
        let mounts = container["volumeMounts"].as_sequence().unwrap();
        assert!(mounts
            .iter()
            .any(|m| secret.starts_with(str_of(m, &["mountPath"]))));
        assert!(mounts.iter().any(|m| str_of(m, &["mountPath"]) == "/data"));
        assert_eq!(lookup(&env, "SKEIN_DATA_DIR"), Some("/data"));
        assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(10001));

        let replicas = set["spec"]["replicas"].as_u64().unwrap();
        match lookup(&env, "SKEIN_CLUSTER_SIZE") {
            Some(size) => assert_eq!(size.parse::<u64>().unwrap(), replicas, "{service}"),
            // Joining services name node 1 (pod 0) by its pod DNS name.
            None => {
                let via = lookup(&env, "SKEIN_JOIN").or(lookup(&env, "SKEIN_BOOT_NODE"));
                assert_eq!(via, Some(format!("1@{name}-0.{name}:5001:7001").as_str()));
            }
        }
        let budget = pdb["spec"]["maxUnavailable"].as_u64().unwrap();
        assert!(
            (1..=tolerated(service, replicas)).contains(&budget),
            "{service}: {budget} pods may go, {} tolerated",
            tolerated(service, replicas)
        );
    }
}

#[test]
fn compose_files_name_every_node_its_volume_health_check_and_dashboard_row() {
    for service in SERVICES {
        let file = deploy(&format!("compose/{service}.yml"));
        let doc = &documents(&file)[0];
        let services = doc["services"].as_mapping().unwrap();
        let nodes: Vec<(&str, &Value)> = services
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v))
            .filter(|(k, _)| *k != "dashboard")
            .collect();
        for (i, (key, node)) in nodes.iter().enumerate() {
            let id = i + 1;
            assert_eq!(*key, format!("{service}-{id}"));
            assert_eq!(
                node["hostname"].as_str(),
                Some(*key),
                "ids come from host names"
            );
            assert_eq!(
                node["volumes"][0].as_str(),
                Some(format!("{key}:/data").as_str())
            );
            assert!(doc["volumes"].get(*key).is_some(), "{key}: a named volume");
            let test: Vec<&str> = node["healthcheck"]["test"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(test[1..], HEALTH, "{key}");
            assert!(
                node.get("ports").is_none(),
                "{key}: nodes publish no host ports"
            );
            let env = &node["environment"];
            assert_eq!(env["SKEIN_SERVICE"].as_str(), Some(service));
            assert_eq!(
                env["SKEIN_PEERS_DNS"].as_str(),
                Some(format!("{service}:9000").as_str())
            );
            let aliases = &node["networks"]["net"]["aliases"];
            assert_eq!(
                aliases[0].as_str(),
                Some(service),
                "the DNS name peers are found by"
            );
            if let Some(size) = env["SKEIN_CLUSTER_SIZE"].as_str() {
                assert_eq!(size.parse::<usize>().unwrap(), nodes.len());
            }
        }
        let dashboard: Vec<&str> = services
            .iter()
            .find(|(k, _)| k.as_str() == Some("dashboard"))
            .map(|(_, v)| v["command"].as_sequence().unwrap())
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let listed = dashboard[dashboard.iter().position(|a| *a == "--nodes").unwrap() + 1];
        let expected: Vec<String> = (1..=nodes.len())
            .map(|id| format!("http://{service}-{id}:{}", 4000 + id))
            .collect();
        assert_eq!(
            listed,
            expected.join(","),
            "{service}: the dashboard watches every node"
        );

        // Compose itself, where installed, accepts the file.
        let compose = Command::new("docker-compose")
            .args(["--file", file.to_str().unwrap(), "config", "--quiet"])
            .env("SKEIN_CLUSTER_SECRET", "x".repeat(32))
            .output();
        match compose {
            Ok(out) => assert!(
                out.status.success(),
                "{file:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) => eprintln!("no docker-compose: {file:?} checked as YAML only"),
        }
    }
}
