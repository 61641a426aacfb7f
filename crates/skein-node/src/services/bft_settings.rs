//! The bftlist service's start-up settings: node flags the core needs
//! (`--allow-fault-injection`, `--byzantine`) and the injected start state.
//!
//! `start_state_file = PATH` (or `SKEIN_BFTLIST_START_STATE_FILE`, or
//! `--set start_state_file=PATH`) starts the replica from a state as
//! `GET /api/v1/bft/state` prints it — the original's injected start state
//! (BFTLIST.md §4). It is a fault injection, so it needs
//! `--allow-fault-injection`; the file is read and checked here, before the
//! node starts, and loaded into the core before it hears anyone.

use crate::config::{ConfigError, NodeSettings};
use skein_bft::{AdminRequest, BftRequest, ByzantineBehaviour};

/// The largest state file accepted (a state holds every peer's copy of the list).
pub const START_STATE_BYTES_MAX: u64 = 64 << 20;
const START_STATE_KEY: &str = "start_state_file";

/// Hands node-level settings to the bftlist core's config table: the node
/// flag `--allow-fault-injection` (the only way to turn it on) and
/// `--byzantine BEHAVIOUR` (env `SKEIN_BYZANTINE`).
pub fn prepare(settings: &mut NodeSettings) -> Result<(), ConfigError> {
    const FLAG_KEY: &str = "allow_fault_injection";
    let table = &mut settings.service_config;
    if table.contains_key(FLAG_KEY) {
        return Err(ConfigError::new(
            "bftlist.allow_fault_injection",
            &table[FLAG_KEY],
            "to be left out of the config file: use the node flag --allow-fault-injection",
        ));
    }
    table.insert(
        FLAG_KEY.into(),
        toml::Value::Boolean(settings.allow_fault_injection),
    );
    if let Some(text) = settings.byzantine.take() {
        let behaviour: ByzantineBehaviour =
            text.parse()
                .map_err(|e: skein_bft::byzantine::UnknownBehaviour| {
                    ConfigError::new("byzantine", &text, e.to_string())
                })?;
        table.insert(
            "byzantine".into(),
            toml::Value::String(behaviour.name().into()),
        );
    }
    take_start_state(settings)
}

/// Reads `start_state_file` out of the service table into a startup request.
fn take_start_state(settings: &mut NodeSettings) -> Result<(), ConfigError> {
    let Some(value) = settings.service_config.remove(START_STATE_KEY) else {
        return Ok(());
    };
    let key = "bftlist.start_state_file";
    let Some(path) = value.as_str() else {
        return Err(ConfigError::new(key, &value, "a path (a string)"));
    };
    if !settings.allow_fault_injection {
        return Err(ConfigError::new(
            key,
            path,
            "an injected start state is a fault injection: start the node with --allow-fault-injection",
        ));
    }
    let read = || -> Result<skein_bft::BftState, String> {
        let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
        if size > START_STATE_BYTES_MAX {
            return Err(format!(
                "{size} bytes is over the {START_STATE_BYTES_MAX}-byte limit"
            ));
        }
        let text = std::fs::read(path).map_err(|e| e.to_string())?;
        serde_json::from_slice(&text).map_err(|e| format!("not a bftlist state ({e})"))
    };
    let state = read().map_err(|why| {
        ConfigError::new(
            key,
            path,
            format!("a readable JSON state as GET /api/v1/bft/state prints it: {why}"),
        )
    })?;
    let request = BftRequest::Admin(AdminRequest::LoadState(Box::new(state)));
    let body =
        serde_json::to_value(request).map_err(|e| ConfigError::new(key, path, e.to_string()))?;
    settings.startup_requests.push(body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_and_the_behaviour_reach_the_core_config() {
        let overrides = crate::NodeOverrides {
            id: Some(1),
            allow_fault_injection: Some(true),
            byzantine: Some("DIFFERENT_VIEWS".into()),
            ..Default::default()
        };
        let mut s = NodeSettings::resolve(overrides, toml::Table::new()).unwrap();
        prepare(&mut s).unwrap();
        assert_eq!(s.byzantine, None, "taken by the service");
        let c: skein_bft::BftConfig = s.protocol_config().unwrap();
        assert!(c.allow_fault_injection);
        assert_eq!(c.byzantine, Some(ByzantineBehaviour::DifferentViews));

        let bad = crate::NodeOverrides {
            id: Some(1),
            byzantine: Some("sneaky".into()),
            ..Default::default()
        };
        let mut s = NodeSettings::resolve(bad, toml::Table::new()).unwrap();
        let err = prepare(&mut s).unwrap_err();
        assert!(err.to_string().contains("different-views"), "{err}");

        let (_, sections) =
            crate::NodeOverrides::parse_toml("[bftlist]\nallow_fault_injection = true\n").unwrap();
        let mut s = NodeSettings::resolve(
            crate::NodeOverrides {
                id: Some(1),
                service: Some("bftlist".into()),
                ..Default::default()
            },
            sections,
        )
        .unwrap();
        let err = prepare(&mut s).unwrap_err();
        assert!(err.to_string().contains("--allow-fault-injection"), "{err}");
    }

    /// Event-driven replication is the default; the tick-driven mode of
    /// the original stays one setting away, from the config file, the
    /// environment (`SKEIN_BFTLIST_EVENT_DRIVEN_REPLICATION`) or `--set`.
    #[test]
    fn tick_driven_replication_is_selectable() {
        let node = |file: &str| {
            let (_, sections) = crate::NodeOverrides::parse_toml(file).unwrap();
            let overrides = crate::NodeOverrides {
                id: Some(1),
                service: Some("bftlist".into()),
                ..Default::default()
            };
            let mut s = NodeSettings::resolve(overrides, sections).unwrap();
            prepare(&mut s).unwrap();
            s
        };
        let mode = |s: &NodeSettings| {
            let c: skein_bft::BftConfig = s.protocol_config().unwrap();
            c.event_driven_replication
        };
        assert!(mode(&node("")), "event-driven by default");
        assert!(!mode(&node(
            "[bftlist]\nevent_driven_replication = false\n"
        )));
        assert_eq!(node("").service_env_prefix(), "SKEIN_BFTLIST_");
        let mut s = node("");
        s.set_service_values("environment", [("EVENT_DRIVEN_REPLICATION", "false")])
            .unwrap();
        assert!(!mode(&s));
        s.set_service_values("--set", [("event_driven_replication", "true")])
            .unwrap();
        assert!(mode(&s));
    }

    fn settings(allow: bool, state_file: &str) -> NodeSettings {
        let (_, sections) = crate::NodeOverrides::parse_toml(&format!(
            "[bftlist]\nstart_state_file = {state_file:?}\n"
        ))
        .unwrap();
        NodeSettings::resolve(
            crate::NodeOverrides {
                id: Some(1),
                service: Some("bftlist".into()),
                allow_fault_injection: Some(allow),
                ..Default::default()
            },
            sections,
        )
        .unwrap()
    }

    #[test]
    fn a_start_state_file_becomes_a_startup_request_only_with_fault_injection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let members: Vec<skein_core::NodeId> = (1..=6).map(skein_core::NodeId).collect();
        let node = skein_bft::BftNode::new(members[0], &members, &Default::default());
        std::fs::write(&path, serde_json::to_vec(node.state()).unwrap()).unwrap();
        let path = path.display().to_string();

        let mut s = settings(true, &path);
        prepare(&mut s).unwrap();
        assert_eq!(s.startup_requests.len(), 1);
        let request: BftRequest = serde_json::from_value(s.startup_requests[0].clone()).unwrap();
        assert!(matches!(
            request,
            BftRequest::Admin(AdminRequest::LoadState(_))
        ));
        assert!(
            !s.service_config.contains_key(START_STATE_KEY),
            "not a core setting"
        );

        let err = prepare(&mut settings(false, &path)).unwrap_err();
        assert!(err.to_string().contains("--allow-fault-injection"), "{err}");

        std::fs::write(dir.path().join("bad.json"), "{\"ve\": 3}").unwrap();
        let bad = dir.path().join("bad.json").display().to_string();
        let err = prepare(&mut settings(true, &bad)).unwrap_err();
        assert!(err.to_string().contains("not a bftlist state"), "{err}");
        let err = prepare(&mut settings(true, "/nonexistent/state.json")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/state.json"), "{err}");
    }
}
