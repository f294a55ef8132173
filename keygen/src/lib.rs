//! Group key agreement (TGDH over X25519) with rekeying on membership change. Not started yet.
