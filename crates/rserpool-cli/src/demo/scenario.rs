//! The story the demo tells, act by act.

use super::cluster::{Cluster, pr_name};
use super::narrate::{Narrator, Summary};
use super::pool::{EchoPe, HowHomed, POOL, Shared, UserSession};
use super::secure::Scope;
use super::timing::Timing;
use rserpool::probe::Snapshot;
use rserpool_proto::wire::{PeId, ServerId};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How many echo PEs the pool has.
const PES: usize = 3;

/// Runs the demo; true if everything it set out to show happened.
pub async fn run(timing: Timing, tls: bool) -> bool {
    let n = Narrator::new();
    let mut summary = Summary::default();
    n.say(format!(
        "RSerPool demo: 3 registrars, a pool of 3 echo PEs and a pool user, all on 127.0.0.1 ({})",
        if tls { "TLS over TCP" } else { "TCP" }
    ));
    let scope = if tls {
        match Scope::create() {
            Ok(s) => {
                n.say(format!(
                    "TLS: scope CA and certificates made in {} (as `rserpool tls` makes them): \
                     registrars authenticate each other and the PEs, each PE's certificate names \
                     its pool, the pool user checks the registrars' certificates and, on its \
                     sessions, the PEs'",
                    s.dir().display()
                ));
                Some(std::sync::Arc::new(s))
            }
            Err(e) => {
                n.say(format!("cannot make the TLS scope: {e}"));
                return false;
            }
        }
    } else {
        None
    };
    let mut cluster = match Cluster::start(3, timing, scope.clone()).await {
        Ok(c) => c,
        Err(e) => {
            n.say(format!("cannot start the registrars: {e}"));
            return false;
        }
    };
    let seen = Shared::default();
    let mut pes: Vec<EchoPe> = Vec::new();
    let mut session = None;
    let ok = story(
        &n,
        &timing,
        &mut cluster,
        &seen,
        &mut pes,
        &mut session,
        &mut summary,
    )
    .await;
    if let Err(e) = ok {
        n.say(format!("the demo could not go on: {e}"));
        summary.check("completion", false, e);
    }

    n.say("stopping everything cleanly");
    if let Some(s) = session {
        s.close().await;
    }
    for pe in pes {
        pe.stop().await;
    }
    cluster.stop().await;
    n.say("all components stopped");
    let o = seen.get();
    summary.fact(format!(
        "pool user: {} messages sent, {} replies, longest wait for a reply {} ms",
        o.sent,
        o.replies,
        o.longest_gap.as_millis()
    ));
    drop(o);
    summary.print(n.elapsed());
    summary.passed()
}

/// The demo's shared state, told act by act.
struct Story<'a> {
    n: &'a Narrator,
    timing: &'a Timing,
    cluster: &'a mut Cluster,
    seen: &'a Shared,
    pes: &'a mut Vec<EchoPe>,
    session: &'a mut Option<UserSession>,
    summary: &'a mut Summary,
}

/// What the registrar failure leaves for the restart.
struct HomeFailure {
    home: ServerId,
    home_idx: usize,
    others: Vec<usize>,
    survivors: Vec<PeId>,
}

#[allow(clippy::too_many_arguments)]
async fn story(
    n: &Narrator,
    timing: &Timing,
    cluster: &mut Cluster,
    seen: &Shared,
    pes: &mut Vec<EchoPe>,
    session: &mut Option<UserSession>,
    summary: &mut Summary,
) -> Result<(), String> {
    let mut s = Story {
        n,
        timing,
        cluster,
        seen,
        pes,
        session,
        summary,
    };
    s.peering().await;
    let ids = s.pool().await?;
    s.user_session().await?;
    let serving = s.pe_failure().await?;
    let failure = s.registrar_failure(&ids, serving).await?;
    s.restart(failure).await
}

impl Story<'_> {
    /// Act 1: the registrars find each other.
    async fn peering(&mut self) {
        let (n, timing) = (self.n, self.timing);
        let cluster = &mut *self.cluster;
        let summary = &mut *self.summary;
        for s in &cluster.slots {
            let metrics = s.metrics().map_or_else(String::new, |m| {
                format!(", dashboard http://{m}/ (metrics at /metrics)")
            });
            n.say(format!(
                "started registrar {}: ASAP {}, ENRP {}{metrics}",
                s.name(),
                s.asap,
                s.enrp
            ));
        }
        let peered = wait_for(timing, || async {
            for i in 0..cluster.slots.len() {
                match cluster.view(i).await {
                    Ok(s) if s.peers.len() == cluster.slots.len() - 1 => {}
                    _ => return false,
                }
            }
            true
        })
        .await;
        match peered {
            Some(t) => n.say(format!(
                "ENRP: every registrar sees the other two as peers ({} ms)",
                t.as_millis()
            )),
            None => n.say("ENRP: the registrars did not all find each other"),
        }
        summary.check(
            "peering",
            peered.is_some(),
            "three registrars peered by ENRP",
        );
    }

    /// Act 2: the pool. PEs know only PR1, so after PR1 fails only an
    /// ENRP takeover keeps them registered.
    async fn pool(&mut self) -> Result<Vec<PeId>, String> {
        let (n, timing, seen) = (self.n, self.timing, self.seen);
        let cluster = &mut *self.cluster;
        let summary = &mut *self.summary;
        let pes = &mut *self.pes;
        let first = cluster
            .slots
            .first()
            .map(|s| s.asap)
            .ok_or("no registrar")?;
        n.say(format!(
            "starting {PES} echo PEs in pool \"{POOL}\"; they know only PR1's address"
        ));
        for _ in 0..PES {
            let pe = EchoPe::start(vec![first], timing, *n, seen.clone(), cluster.tls())
                .await
                .map_err(|e| format!("cannot start a PE: {e}"))?;
            pes.push(pe);
        }
        let ids: Vec<PeId> = pes.iter().map(|p| p.id).collect();
        let everywhere = wait_for(timing, || async {
            for i in 0..cluster.slots.len() {
                match cluster.view(i).await {
                    Ok(s) if pe_ids(&s).len() == PES => {}
                    _ => return false,
                }
            }
            true
        })
        .await;
        match everywhere {
            Some(t) => {
                n.say(format!(
                    "ENRP: all 3 registrars know all {PES} PEs ({} ms after the last registration)",
                    t.as_millis()
                ));
                if let Ok(s) = cluster.view(1).await {
                    for (pe, home) in homes(&s) {
                        n.detail(format!(
                            "{} lists PE {pe} with home {}",
                            pr_name(s.registrar.server_id),
                            pr_name(home)
                        ));
                    }
                }
            }
            None => n.say("ENRP: the registrars do not all know every PE"),
        }
        summary.check(
            "registration",
            everywhere.is_some(),
            format!("{PES} PEs registered and known to every registrar"),
        );

        Ok(ids)
    }

    /// Act 3: a pool user session.
    async fn user_session(&mut self) -> Result<(), String> {
        let (n, timing, seen) = (self.n, self.timing, self.seen);
        let cluster = &mut *self.cluster;
        let summary = &mut *self.summary;
        let session = &mut *self.session;
        *session = Some(
            UserSession::start(
                cluster.asap_addrs(),
                timing,
                *n,
                seen.clone(),
                cluster.tls(),
            )
            .await
            .map_err(|e| format!("cannot start the pool user: {e}"))?,
        );
        n.say(format!(
            "pool user opened a session to \"{POOL}\"; it sends a message every {} ms",
            timing.message_every.as_millis()
        ));
        let answered = wait_for(timing, || async { seen.get().serving.is_some() }).await;
        if answered.is_none() {
            summary.check("session", false, "no reply to the pool user");
            return Err("the session got no reply".into());
        }
        tokio::time::sleep(timing.act).await;

        Ok(())
    }

    /// Act 4: kill the PE serving the session; the session fails over.
    async fn pe_failure(&mut self) -> Result<PeId, String> {
        let (n, timing, seen) = (self.n, self.timing, self.seen);
        let summary = &mut *self.summary;
        let pes = &mut *self.pes;
        let serving = seen.get().serving.ok_or("no serving PE")?;
        let idx = pes
            .iter()
            .position(|p| p.id == serving)
            .ok_or("the serving PE is not one of ours")?;
        let victim = pes.remove(idx);
        let (replies_before, failovers_before) = {
            let o = seen.get();
            (o.replies, o.failovers.len())
        };
        n.say(format!("killing PE {serving}, which serves the session"));
        victim.kill().await;
        let failed_over = wait_for(timing, || async {
            let o = seen.get();
            o.failovers.len() > failovers_before
                && o.replies > replies_before
                && o.serving.is_some_and(|p| p != serving)
        })
        .await;
        let (replayed, echoed) = {
            let o = seen.get();
            let replayed = o
                .failovers
                .get(failovers_before..)
                .is_some_and(|f| f.iter().any(|(_, _, c)| *c));
            (replayed, !o.cookie_echoes.is_empty())
        };
        summary.check(
            "failover",
            failed_over.is_some(),
            match (failed_over, seen.get().serving) {
                (Some(t), Some(to)) => format!(
                    "session moved from PE {serving} to PE {to}, answering again after {} ms",
                    t.as_millis()
                ),
                _ => format!("session did not move on from PE {serving}"),
            },
        );
        summary.check(
            "cookie",
            replayed && echoed,
            if replayed && echoed {
                "the last cookie was replayed and the new PE resumed from it".to_string()
            } else {
                "no cookie echo reached the new PE".to_string()
            },
        );
        tokio::time::sleep(timing.act).await;

        Ok(serving)
    }

    /// Act 5: kill the PEs' home registrar; a peer takes them over.
    async fn registrar_failure(
        &mut self,
        ids: &[PeId],
        serving: PeId,
    ) -> Result<HomeFailure, String> {
        let (n, timing, seen) = (self.n, self.timing, self.seen);
        let cluster = &mut *self.cluster;
        let summary = &mut *self.summary;
        let survivors: Vec<PeId> = ids.iter().copied().filter(|p| *p != serving).collect();
        let home = common_home(cluster, &survivors)
            .await
            .ok_or("no home registrar found")?;
        let home_idx = cluster
            .index_of(home)
            .ok_or("the home is not one of ours")?;
        let others: Vec<usize> = (0..cluster.slots.len())
            .filter(|i| *i != home_idx)
            .collect();
        n.say(format!(
            "killing registrar {}, home of the remaining PEs",
            pr_name(home)
        ));
        let killed_at = Instant::now();
        cluster.kill(home_idx);
        // Every sample of the survivors' handlespaces must list every PE,
        // under the old home until the takeover and the new one after it.
        let samples = std::cell::Cell::new(0u32);
        let gaps = std::cell::Cell::new(0u32);
        let moved = wait_for(timing, || async {
            let mut all_moved = true;
            for i in &others {
                let Ok(s) = cluster.view(*i).await else {
                    return false;
                };
                let homes = homes(&s);
                samples.set(samples.get() + 1);
                if !survivors.iter().all(|p| homes.contains_key(p)) {
                    gaps.set(gaps.get() + 1);
                }
                all_moved &= survivors
                    .iter()
                    .all(|p| homes.get(p).is_some_and(|h| *h != home));
            }
            all_moved
        })
        .await;
        let took_over = seen
            .get()
            .new_homes
            .iter()
            .filter(|(_, _, how)| *how == HowHomed::Takeover)
            .count();
        if let Some(t) = moved {
            if let Some(i) = others.first() {
                if let Ok(s) = cluster.view(*i).await {
                    let h = homes(&s);
                    for p in &survivors {
                        if let Some(new) = h.get(p) {
                            n.detail(format!(
                                "{} lists PE {p} with home {}",
                                pr_name(s.registrar.server_id),
                                pr_name(*new)
                            ));
                        }
                    }
                }
            }
            n.say(format!(
                "the surviving registrars list every PE under a new home {} ms after the kill",
                t.as_millis()
            ));
        }
        summary.check(
            "takeover",
            moved.is_some() && took_over > 0,
            match moved {
                Some(_) => format!(
                    "{took_over} of {} PEs taken over by a peer of {}",
                    survivors.len(),
                    pr_name(home)
                ),
                None => format!("the PEs of {} did not get a new home", pr_name(home)),
            },
        );
        summary.check(
            "resolvable",
            gaps.get() == 0,
            format!(
                "the PEs were missing from the survivors' handlespaces in {} of {} samples",
                gaps.get(),
                samples.get()
            ),
        );
        let replies = seen.get().replies;
        let still = wait_for(timing, || async { seen.get().replies > replies + 2 }).await;
        summary.check(
            "service",
            still.is_some(),
            if still.is_some() {
                "the session kept answering while the registrar was down"
            } else {
                "the session stopped answering"
            },
        );
        let down_for = timing.act.saturating_sub(killed_at.elapsed());
        tokio::time::sleep(down_for.max(timing.act / 2)).await;

        Ok(HomeFailure {
            home,
            home_idx,
            others,
            survivors,
        })
    }

    /// Act 6: restart it; it learns the handlespace from its peers.
    async fn restart(&mut self, f: HomeFailure) -> Result<(), String> {
        let (n, timing) = (self.n, self.timing);
        let cluster = &mut *self.cluster;
        let summary = &mut *self.summary;
        let HomeFailure {
            home,
            home_idx,
            others,
            survivors,
        } = f;
        cluster
            .restart(home_idx)
            .await
            .map_err(|e| format!("cannot restart {}: {e}", pr_name(home)))?;
        n.say(format!(
            "restarted registrar {} (same ID and addresses, empty handlespace)",
            pr_name(home)
        ));
        let synced = wait_for(timing, || async {
            match cluster.view(home_idx).await {
                Ok(s) => {
                    let h = homes(&s);
                    s.peers.len() == others.len()
                        && survivors
                            .iter()
                            .all(|p| h.get(p).is_some_and(|x| *x != home))
                }
                Err(_) => false,
            }
        })
        .await;
        if let Some(t) = synced {
            n.say(format!(
            "{} synchronised from its peers in {} ms: it knows all {} PEs again, homed at its peers",
            pr_name(home),
            t.as_millis(),
            survivors.len()
        ));
        }
        summary.check(
            "resynchronisation",
            synced.is_some(),
            match synced {
                Some(t) => format!(
                    "{} relearnt the handlespace in {} ms",
                    pr_name(home),
                    t.as_millis()
                ),
                None => format!("{} did not relearn the handlespace", pr_name(home)),
            },
        );
        tokio::time::sleep(timing.act / 2).await;
        Ok(())
    }
}

/// Polls `check` every 100 ms until it holds; how long that took, or
/// `None` after the timing's patience ran out.
pub async fn wait_for<F, Fut>(timing: &Timing, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timing.patience {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Home registrar of every PE of the demo's pool in a view.
fn homes(s: &Snapshot) -> BTreeMap<PeId, ServerId> {
    s.pools
        .iter()
        .filter(|p| p.handle.as_bytes() == POOL.as_bytes())
        .flat_map(|p| &p.elements)
        .map(|e| (e.pe_id, e.home_server_id))
        .collect()
}

fn pe_ids(s: &Snapshot) -> Vec<PeId> {
    homes(s).into_keys().collect()
}

/// The registrar most of `pes` call home, as the first answering
/// registrar sees it.
async fn common_home(cluster: &Cluster, pes: &[PeId]) -> Option<ServerId> {
    for i in 0..cluster.slots.len() {
        let Ok(s) = cluster.view(i).await else {
            continue;
        };
        let h = homes(&s);
        let mut count: BTreeMap<ServerId, usize> = BTreeMap::new();
        for p in pes {
            if let Some(home) = h.get(p) {
                *count.entry(*home).or_default() += 1;
            }
        }
        return count.into_iter().max_by_key(|(_, c)| *c).map(|(id, _)| id);
    }
    None
}
