//! cman compatibility: quorum semantics, `cman_tool` views and cluster.conf migration. Not started yet.
