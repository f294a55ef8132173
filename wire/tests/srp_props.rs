//! Property tests: every SRP message, generation and byte order round-trips exactly, and
//! no input makes a decoder panic.

use proptest::prelude::*;
use totem_wire::ip_address::TotemIpAddress;
use totem_wire::srp::commit_token::{CommitToken, MembEntry};
use totem_wire::srp::mcast::Mcast;
use totem_wire::srp::memb_join::MembJoin;
use totem_wire::srp::merge_detect::MergeDetect;
use totem_wire::srp::orf_token::{OrfToken, RtrItem};
use totem_wire::srp::ring_test::RingTest;
use totem_wire::srp::token_hold_cancel::TokenHoldCancel;
use totem_wire::*;

fn gen_strategy() -> impl Strategy<Value = Generation> {
    prop_oneof![
        Just(Generation::G1),
        Just(Generation::G2),
        Just(Generation::G3)
    ]
}
fn endian_strategy() -> impl Strategy<Value = Endian> {
    prop_oneof![Just(Endian::Little), Just(Endian::Big)]
}
fn ip() -> impl Strategy<Value = TotemIpAddress> {
    (any::<u32>(), any::<u16>(), any::<[u8; 16]>()).prop_map(|(nodeid, family, addr)| {
        TotemIpAddress {
            nodeid,
            family,
            addr,
        }
    })
}
fn srp_addr(gen: Generation) -> BoxedStrategy<SrpAddr> {
    match gen {
        Generation::G3 => any::<u32>().prop_map(SrpAddr::Node).boxed(),
        Generation::G2 => (any::<u8>(), ip(), ip())
            .prop_map(|(no_addrs, a, b)| SrpAddr::Addrs {
                no_addrs,
                addrs: [a, b],
            })
            .boxed(),
        Generation::G1 => (ip(), ip())
            .prop_map(|(a, b)| SrpAddr::Addrs {
                no_addrs: 0,
                addrs: [a, b],
            })
            .boxed(),
    }
}
fn ring_id(gen: Generation) -> BoxedStrategy<RingId> {
    match gen {
        Generation::G3 => (any::<u32>(), any::<u64>())
            .prop_map(|(n, s)| RingId::node(n, s))
            .boxed(),
        _ => (ip(), any::<u64>())
            .prop_map(|(a, seq)| RingId {
                rep: RingRep::Addr(a),
                seq,
            })
            .boxed(),
    }
}
fn header(gen: Generation, endian: Endian, t: MessageType) -> BoxedStrategy<Header> {
    (any::<u8>(), any::<u32>(), any::<u32>())
        .prop_map(move |(encapsulated, nodeid, target)| Header {
            generation: gen,
            endian,
            msg_type: t,
            encapsulated,
            nodeid,
            target_nodeid: if gen == Generation::G3 { target } else { 0 },
        })
        .boxed()
}

fn message() -> impl Strategy<Value = SrpMessage> {
    (gen_strategy(), endian_strategy(), 0u8..8).prop_flat_map(
        |(g, e, t)| -> BoxedStrategy<SrpMessage> {
            match t {
                0 => (
                    header(g, e, MessageType::OrfToken),
                    any::<[u32; 6]>(),
                    any::<i32>(),
                    ring_id(g),
                    prop::collection::vec((ring_id(g), any::<u32>()), 0..=30),
                )
                    .prop_map(|(header, v, retrans_flg, ring_id, rtr)| {
                        SrpMessage::OrfToken(OrfToken {
                            header,
                            seq: v[0],
                            token_seq: v[1],
                            aru: v[2],
                            aru_addr: v[3],
                            ring_id,
                            backlog: v[4],
                            fcc: v[5],
                            retrans_flg,
                            rtr_list: rtr
                                .into_iter()
                                .map(|(ring_id, seq)| RtrItem { ring_id, seq })
                                .collect(),
                        })
                    })
                    .boxed(),
                1 => (
                    header(g, e, MessageType::Mcast),
                    srp_addr(g),
                    any::<(u32, i32, u32, i32)>(),
                    ring_id(g),
                    prop::collection::vec(any::<u8>(), 0..200),
                )
                    .prop_map(
                        |(
                            header,
                            system_from,
                            (seq, this_seqno, node_id, guarantee),
                            ring_id,
                            payload,
                        )| {
                            SrpMessage::Mcast(Mcast {
                                header,
                                system_from,
                                seq,
                                this_seqno,
                                ring_id,
                                node_id,
                                guarantee,
                                payload,
                            })
                        },
                    )
                    .boxed(),
                2 => (
                    header(g, e, MessageType::MembMergeDetect),
                    srp_addr(g),
                    ring_id(g),
                )
                    .prop_map(|(header, system_from, ring_id)| {
                        SrpMessage::MergeDetect(MergeDetect {
                            header,
                            system_from,
                            ring_id,
                        })
                    })
                    .boxed(),
                3 => (
                    header(g, e, MessageType::MembJoin),
                    srp_addr(g),
                    any::<u64>(),
                    prop::collection::vec(srp_addr(g), 0..12),
                    prop::collection::vec(srp_addr(g), 0..12),
                )
                    .prop_map(|(header, system_from, ring_seq, proc_list, failed_list)| {
                        SrpMessage::MembJoin(MembJoin {
                            header,
                            system_from,
                            ring_seq,
                            proc_list,
                            failed_list,
                        })
                    })
                    .boxed(),
                4 => (
                    header(g, e, MessageType::MembCommitToken),
                    any::<(u32, u32, i32)>(),
                    ring_id(g),
                    prop::collection::vec((srp_addr(g), ring_id(g), any::<[u32; 3]>()), 0..10),
                )
                    .prop_map(
                        |(header, (token_seq, retrans_flg, memb_index), ring_id, members)| {
                            let addr = members.iter().map(|m| m.0).collect();
                            let memb_list = members
                                .iter()
                                .map(|m| MembEntry {
                                    ring_id: m.1,
                                    aru: m.2[0],
                                    high_delivered: m.2[1],
                                    received_flg: m.2[2],
                                })
                                .collect();
                            SrpMessage::CommitToken(CommitToken {
                                header,
                                token_seq,
                                ring_id,
                                retrans_flg,
                                memb_index,
                                addr,
                                memb_list,
                            })
                        },
                    )
                    .boxed(),
                5 => (header(g, e, MessageType::TokenHoldCancel), ring_id(g))
                    .prop_map(|(header, ring_id)| {
                        SrpMessage::TokenHoldCancel(TokenHoldCancel { header, ring_id })
                    })
                    .boxed(),
                _ => {
                    let g = if g == Generation::G3 {
                        Generation::G2
                    } else {
                        g
                    };
                    let t = if t == 6 {
                        MessageType::RingTestActive
                    } else {
                        MessageType::RingTestActivate
                    };
                    any::<(u8, i32, i32)>()
                        .prop_map(move |(encapsulated, ring_number, nodeid_activator)| {
                            SrpMessage::RingTest(RingTest {
                                generation: g,
                                endian: e,
                                msg_type: t,
                                encapsulated,
                                ring_number,
                                nodeid_activator,
                            })
                        })
                        .boxed()
                }
            }
        },
    )
}

fn generation_of(m: &SrpMessage) -> Generation {
    match m {
        SrpMessage::OrfToken(x) => x.header.generation,
        SrpMessage::Mcast(x) => x.header.generation,
        SrpMessage::MergeDetect(x) => x.header.generation,
        SrpMessage::MembJoin(x) => x.header.generation,
        SrpMessage::CommitToken(x) => x.header.generation,
        SrpMessage::TokenHoldCancel(x) => x.header.generation,
        SrpMessage::RingTest(x) => x.generation,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn emit_parse_emit_is_identical(m in message()) {
        let gen = generation_of(&m);
        let bytes = m.to_vec();
        prop_assert_eq!(bytes.len(), m.buffer_len());
        let d = SrpMessage::parse(&bytes, gen).expect("own output decodes");
        prop_assert!(d.trailing.is_empty());
        prop_assert_eq!(&d.message, &m);
        prop_assert_eq!(d.message.to_vec(), bytes);
    }

    #[test]
    fn trailing_bytes_survive(m in message(), extra in prop::collection::vec(any::<u8>(), 1..4)) {
        // mcast swallows everything after its header, so only fixed-size messages have trailers.
        prop_assume!(!matches!(m, SrpMessage::Mcast(_)));
        let gen = generation_of(&m);
        let mut bytes = m.to_vec();
        bytes.extend_from_slice(&extra);
        let d = SrpMessage::parse(&bytes, gen).unwrap();
        prop_assert_eq!(&d.trailing, &extra);
        prop_assert_eq!(d.to_vec(), bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), g in gen_strategy()) {
        let _ = classify(&bytes);
        if let Ok(d) = SrpMessage::parse(&bytes, g) {
            // Whatever decodes must re-encode to the bytes it came from.
            prop_assert_eq!(d.to_vec(), bytes);
        }
    }

    #[test]
    fn mutated_real_messages_never_panic(m in message(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let gen = generation_of(&m);
        let mut bytes = m.to_vec();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        let n = cut.index(bytes.len() + 1);
        if let Ok(d) = SrpMessage::parse(&bytes[..n], gen) {
            prop_assert_eq!(d.to_vec(), &bytes[..n]);
        }
    }
}
