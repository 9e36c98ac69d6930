//! Who used the CPU during a run, from `/proc`: this process (the Tiaki server), the
//! load generator (a waited-for child, so in this process's `cutime`), nginx's master
//! and workers, every `postgres` process, and the whole machine. On a 2-core machine
//! the servers and wrk compete for the same cores, and other work on the machine (a
//! build, a test run) would skew a round: the "other" share makes that visible.
//!
//! Times are in clock ticks (`USER_HZ`), which is the same unit in `/proc/stat` and
//! `/proc/PID/stat`, so shares are computed without knowing its value.

use std::collections::HashMap;

/// CPU ticks used so far, per party.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// This process: the in-process Tiaki server (and the idle harness).
    pub own: u64,
    /// Waited-for children: wrk.
    pub children: u64,
    /// nginx master and workers.
    pub nginx: u64,
    /// Context switches (voluntary and not) of this process's threads and of nginx's.
    pub own_switches: u64,
    pub nginx_switches: u64,
    /// Every process named `postgres`, by pid (backends come and go).
    pub postgres: HashMap<u32, u64>,
    /// Machine-wide ticks (all CPUs): busy, total, interrupts (hard and soft: loopback
    /// TCP is processed in softirq) and steal (a hypervisor running someone else).
    pub busy: u64,
    pub total: u64,
    pub irq: u64,
    pub steal: u64,
}

/// Shares of one core (100 = one core fully busy) over an interval.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub tiaki: f64,
    pub wrk: f64,
    pub nginx: f64,
    pub postgres: f64,
    /// Interrupt and softirq time: mostly the loopback network stack.
    pub irq: f64,
    /// Time the hypervisor gave to others.
    pub steal: f64,
    /// Everything else on the machine (other processes, kernel threads).
    pub other: f64,
    /// Context switches in this process (Tiaki) and in nginx over the interval.
    pub tiaki_switches: u64,
    pub nginx_switches: u64,
}

impl Sample {
    pub fn take(nginx_pids: &[u32]) -> Self {
        let (own, children) = own_times().unwrap_or_default();
        let nginx = nginx_pids
            .iter()
            .filter_map(|&pid| pid_times(pid).map(|t| t.0))
            .sum();
        let m = machine_times().unwrap_or_default();
        Self {
            own,
            children,
            nginx,
            own_switches: switches("self"),
            nginx_switches: nginx_pids.iter().map(|p| switches(&p.to_string())).sum(),
            postgres: postgres_times(),
            busy: m.busy,
            total: m.total,
            irq: m.irq,
            steal: m.steal,
        }
    }

    /// Usage between `self` (earlier) and `later`, given the number of CPUs.
    pub fn usage_until(&self, later: &Self, cpus: usize) -> Usage {
        let cpus = cpus.max(1) as f64;
        // Wall time in ticks: machine-wide ticks are summed over CPUs.
        let wall = later.total.saturating_sub(self.total) as f64 / cpus;
        if wall <= 0.0 {
            return Usage::default();
        }
        let share = |ticks: u64| 100.0 * ticks as f64 / wall;
        let postgres: u64 = later
            .postgres
            .iter()
            .map(|(pid, t)| t.saturating_sub(self.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        let tiaki = later.own.saturating_sub(self.own);
        let wrk = later.children.saturating_sub(self.children);
        let nginx = later.nginx.saturating_sub(self.nginx);
        let busy = later.busy.saturating_sub(self.busy);
        let irq = later.irq.saturating_sub(self.irq);
        let steal = later.steal.saturating_sub(self.steal);
        let known = tiaki + wrk + nginx + postgres + irq + steal;
        Usage {
            tiaki: share(tiaki),
            wrk: share(wrk),
            nginx: share(nginx),
            postgres: share(postgres),
            irq: share(irq),
            steal: share(steal),
            other: share(busy.saturating_sub(known)),
            tiaki_switches: later.own_switches.saturating_sub(self.own_switches),
            nginx_switches: later.nginx_switches.saturating_sub(self.nginx_switches),
        }
    }
}

/// How busy the whole machine is over `window`, in % of one core.
pub async fn machine_busy(window: std::time::Duration) -> f64 {
    let before = machine_times().unwrap_or_default();
    tokio::time::sleep(window).await;
    let after = machine_times().unwrap_or_default();
    let total = after.total.saturating_sub(before.total) as f64;
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
    if total <= 0.0 {
        return 0.0;
    }
    100.0 * cpus * after.busy.saturating_sub(before.busy) as f64 / total
}

/// Context switches so far of every thread of a process (`self` or a pid).
fn switches(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// nginx's master and the processes whose parent it is (its workers).
pub fn process_tree(master: u32) -> Vec<u32> {
    let mut pids = vec![master];
    for pid in all_pids() {
        if stat_fields(pid).is_some_and(|f| field(&f, 1) == Some(u64::from(master))) {
            pids.push(pid);
        }
    }
    pids
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name (field 3, `state`, first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    read_stat(&format!("/proc/{pid}/stat"))
}

fn read_stat(path: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn field(fields: &[String], index: usize) -> Option<u64> {
    fields.get(index).and_then(|f| f.parse().ok())
}

/// (utime + stime, cutime + cstime) of a process.
fn pid_times(pid: u32) -> Option<(u64, u64)> {
    times_of(&stat_fields(pid)?)
}

fn own_times() -> Option<(u64, u64)> {
    times_of(&read_stat("/proc/self/stat")?)
}

fn times_of(fields: &[String]) -> Option<(u64, u64)> {
    // After ')': state=0, ppid=1, …, utime=11, stime=12, cutime=13, cstime=14.
    let own = field(fields, 11)? + field(fields, 12)?;
    let children = field(fields, 13)? + field(fields, 14)?;
    Some((own, children))
}

fn postgres_times() -> HashMap<u32, u64> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|pid| pid_times(pid).map(|t| (pid, t.0)))
        .collect()
}

#[derive(Debug, Default)]
struct MachineTimes {
    busy: u64,
    total: u64,
    irq: u64,
    steal: u64,
}

/// Ticks summed over all CPUs, from the first line of `/proc/stat`.
fn machine_times() -> Option<MachineTimes> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    let total: u64 = values.iter().take(8).sum();
    let at = |i: usize| values.get(i).copied().unwrap_or(0);
    Some(MachineTimes {
        busy: total.saturating_sub(at(3) + at(4)),
        total,
        irq: at(5) + at(6),
        steal: at(7),
    })
}
