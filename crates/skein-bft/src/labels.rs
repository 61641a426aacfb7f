//! Message kinds as metric labels (`Protocol::message_kind`): the module of
//! the spec a message belongs to and, where a module sends more than one
//! shape, which one. A small fixed set, so it is safe as a label.

use crate::message::BftMessage;

impl BftMessage {
    /// `module.type`, e.g. `rep.structure_with_list`.
    pub fn kind(&self) -> &'static str {
        match self {
            BftMessage::Ve(_) => "ve.info",
            BftMessage::Rep(m) if m.with_machine => "rep.structure_with_list",
            BftMessage::Rep(_) => "rep.structure",
            BftMessage::StateRequest => "rep.state_request",
            BftMessage::Pm(_) => "pm.vcm",
            BftMessage::Fd(_) => "fd.token",
            BftMessage::Edfd(_) => "edfd.token",
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_names_its_module() {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
        for _ in 0..200 {
            let message = crate::corrupt::arbitrary_message(&mut rng);
            let kind = message.kind();
            assert!(
                kind.starts_with(&format!("{}.", message.module())),
                "{kind} vs module {}",
                message.module()
            );
        }
    }
}
