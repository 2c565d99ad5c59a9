//! The shim's single-threaded event loop: one `poll` over the listener, every client, every
//! process's output and pidfd.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::conn::{Conn, Role};
use super::exec_seccomp;
use super::executor::BerthExecutor;
use super::logfile::{JsonLog, Stream};
use super::process::{Output, Process, ReadOutcome, STDIN_HIGH_WATER};
use super::stdio::{self, ConsoleSocket};
use super::{builder, error_chain, ShimArgs};
use crate::layout::ShimLayout;
use crate::protocol::{self, FrameKind, Reply, Request, ShimState};
use crate::status::{self, ExitStatus};

/// How long output may keep flowing after the init process exited.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long clients get to read their last bytes before the shim exits.
const FLUSH_GRACE: Duration = Duration::from_secs(5);
/// How long libcontainer gets to hand over a pty master.
const CONSOLE_TIMEOUT_MS: u16 = 10_000;

/// What a poll entry refers to.
#[derive(Debug, Clone)]
enum Token {
    Listener,
    Pid,
    Output(Option<String>, usize),
    Stdin(Option<String>),
    Conn(u64),
}

/// The shim's whole state.
pub struct Shim {
    id: String,
    layout: ShimLayout,
    container: Container,
    listener: UnixListener,
    main: Process,
    started: bool,
    execs: HashMap<String, (Process, u64)>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    log: Option<JsonLog>,
    drain_deadline: Option<Instant>,
    shutdown_deadline: Option<Instant>,
}

impl Shim {
    /// Creates the container (its init waits for `start`) and the control socket.
    pub fn create(args: &ShimArgs, layout: ShimLayout) -> Result<Self, String> {
        let _ = std::fs::remove_file(layout.socket());
        let listener = UnixListener::bind(layout.socket()).map_err(|e| format!("bind {}: {e}", layout.socket().display()))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut settings = args.log_settings.clone();
        settings.path = args.log.clone();
        let log = if settings.enabled() { Some(JsonLog::with_settings(&settings).map_err(|e| format!("open log: {e}"))?) } else { None };
        let executor = BerthExecutor { seccomp: exec_seccomp::prepare_init(&layout)? };
        let (container, stdio) = if args.tty {
            let console = ConsoleSocket::bind(&layout.console_socket("init")).map_err(|e| e.to_string())?;
            let container = builder(&args.id, &layout)?
                .with_executor(executor)
                .with_console_socket(Some(console.path()))
                .as_init(layout.dir())
                .with_systemd(false)
                .with_detach(true)
                .build()
                .map_err(|e| error_chain(&e))?;
            (container, console.receive(CONSOLE_TIMEOUT_MS).map_err(|e| e.to_string())?)
        } else {
            let (child, mut shim_io) = stdio::pipes(args.stdin).map_err(|e| e.to_string())?;
            let container = builder(&args.id, &layout)?
                .with_executor(executor)
                .with_stdin(child.stdin)
                .with_stdout(child.stdout)
                .with_stderr(child.stderr)
                .as_init(layout.dir())
                .with_systemd(false)
                .with_detach(true)
                .build()
                .map_err(|e| with_init_output(error_chain(&e), &mut shim_io))?;
            (container, shim_io)
        };
        let pid = container.pid().map(|p| p.as_raw()).ok_or("runtime reported no pid")?;
        Ok(Self {
            id: args.id.clone(),
            layout,
            container,
            listener,
            main: Process::new(pid, stdio),
            started: false,
            execs: HashMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            log,
            drain_deadline: None,
            shutdown_deadline: None,
        })
    }

    /// The host pid of the container's init.
    pub fn main_pid(&self) -> i32 {
        self.main.pid
    }

    /// Serves until the container has exited and clients have been told.
    pub fn run(&mut self) {
        loop {
            if let Some(deadline) = self.shutdown_deadline {
                if self.conns.values().all(Conn::done) || Instant::now() >= deadline {
                    break;
                }
            }
            let events = match self.wait_for_events() {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!("poll: {e}");
                    break;
                }
            };
            for (token, flags) in events {
                self.handle(token, flags);
            }
            // Reap before pruning: an exec whose output already ended is finished the moment
            // its exit is collected, and nothing else would wake the next poll for it.
            self.reap();
            self.prune();
            self.settle();
        }
        self.finish();
    }

    fn wait_for_events(&self) -> nix::Result<Vec<(Token, PollFlags)>> {
        let mut set = PollSet::default();
        if self.shutdown_deadline.is_none() {
            set.add(self.listener.as_fd(), PollFlags::POLLIN, Token::Listener);
        }
        let main_congested = self.conns.values().any(|c| matches!(c.role, Role::Attach { .. }) && c.congested());
        set.add_process(None, &self.main, main_congested);
        for (id, (proc_, owner)) in &self.execs {
            let congested = self.conns.get(owner).is_some_and(Conn::congested);
            set.add_process(Some(id), proc_, congested);
        }
        for (key, conn) in &self.conns {
            let mut flags = PollFlags::empty();
            let stdin_full = match &conn.role {
                Role::Attach { .. } => self.main.stdin_buf.len() > STDIN_HIGH_WATER,
                Role::Exec(id) => self.execs.get(id).is_some_and(|(p, _)| p.stdin_buf.len() > STDIN_HIGH_WATER),
                _ => false,
            };
            if !conn.closing && !conn.read_closed && !stdin_full {
                flags |= PollFlags::POLLIN;
            }
            if conn.wants_write() {
                flags |= PollFlags::POLLOUT;
            }
            set.add(conn.stream().as_fd(), flags, Token::Conn(*key));
        }
        let timeout = [self.drain_deadline, self.shutdown_deadline]
            .into_iter()
            .flatten()
            .min()
            .map(|d| {
                let ms = d.saturating_duration_since(Instant::now()).as_millis().min(60_000) as u16;
                PollTimeout::from(ms.max(1))
            })
            .unwrap_or(PollTimeout::NONE);
        set.wait(timeout)
    }

    fn handle(&mut self, token: Token, flags: PollFlags) {
        match token {
            Token::Listener => self.accept(),
            Token::Pid => self.reap(),
            Token::Output(exec, idx) => self.read_output(exec, idx),
            Token::Stdin(exec) => {
                if let Some(p) = self.process_mut(exec.as_deref()) {
                    if flags.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
                        p.stdin = None;
                        p.stdin_buf.clear();
                    } else {
                        p.flush_stdin();
                    }
                }
            }
            Token::Conn(key) => self.service_conn(key, flags),
        }
    }

    fn process_mut(&mut self, exec: Option<&str>) -> Option<&mut Process> {
        match exec {
            None => Some(&mut self.main),
            Some(id) => self.execs.get_mut(id).map(|(p, _)| p),
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                self.conns.insert(self.next_conn, Conn::new(stream));
                self.next_conn += 1;
            }
        }
    }

    fn read_output(&mut self, exec: Option<String>, idx: usize) {
        let Some(p) = self.process_mut(exec.as_deref()) else { return };
        let Some(stream) = p.outputs.get(idx).map(|o| o.stream) else { return };
        match p.read_output(idx) {
            ReadOutcome::WouldBlock => {}
            ReadOutcome::Eof => {
                if let Some(out) = self.process_mut(exec.as_deref()).and_then(|p| p.outputs.get_mut(idx)) {
                    out.open = false;
                }
            }
            ReadOutcome::Data(data) => self.deliver(exec.as_deref(), stream, &data),
        }
    }

    fn deliver(&mut self, exec: Option<&str>, stream: Stream, data: &[u8]) {
        let kind = if stream == Stream::Stderr { FrameKind::Stderr } else { FrameKind::Stdout };
        match exec {
            None => {
                if let Some(log) = self.log.as_mut() {
                    log.write(stream, data);
                }
                for conn in self.conns.values_mut() {
                    if let Role::Attach { stdout, stderr, .. } = conn.role {
                        let wanted = if stream == Stream::Stderr { stderr } else { stdout };
                        if wanted {
                            conn.send(kind, data);
                        }
                    }
                }
            }
            Some(id) => {
                let owner = self.execs.get(id).map(|(_, owner)| *owner);
                if let Some(conn) = owner.and_then(|o| self.conns.get_mut(&o)) {
                    conn.send(kind, data);
                }
            }
        }
    }

    fn service_conn(&mut self, key: u64, flags: PollFlags) {
        let Some(conn) = self.conns.get_mut(&key) else { return };
        if flags.contains(PollFlags::POLLOUT) && conn.flush().is_err() {
            self.drop_conn(key);
            return;
        }
        if !flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            return;
        }
        let open = match conn.fill() {
            Ok(open) => open,
            Err(_) => false,
        };
        self.process_frames(key);
        // POLLHUP/POLLERR: the peer is gone both ways (a dead daemon), and poll reports it
        // whatever we ask for, so keeping the connection would spin this loop.
        if flags.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            self.drop_conn(key);
        } else if !open {
            // A client that half-closes (as the docker CLI does on attach without stdin) still
            // reads: keep streaming to it, including what a finished exec left to send (its last
            // output and exit reply: a fast exec is done before its client half-closes). One that
            // never made a request, or has nothing left to read, is gone.
            match self.conns.get_mut(&key) {
                Some(conn) if matches!(conn.role, Role::Done) && conn.wants_write() => conn.read_closed = true,
                Some(conn) if !matches!(conn.role, Role::New | Role::Done) => conn.read_closed = true,
                _ => self.drop_conn(key),
            }
        }
    }

    fn drop_conn(&mut self, key: u64) {
        if let Some(conn) = self.conns.remove(&key) {
            if let Role::Exec(id) = conn.role {
                // The exec keeps running, like a detached `docker exec`; nobody reads it now.
                if let Some((p, _)) = self.execs.get_mut(&id) {
                    p.stdin = None;
                }
            }
        }
    }

    fn process_frames(&mut self, key: u64) {
        loop {
            let Some(conn) = self.conns.get_mut(&key) else { return };
            let frame = match protocol::decode(&mut conn.inbuf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    conn.finish(&Reply::Error { message: e.to_string() });
                    conn.inbuf.clear();
                    return;
                }
            };
            let role = conn.role.clone();
            match (frame.0, role) {
                (FrameKind::Json, Role::New) => match serde_json::from_slice::<Request>(&frame.1) {
                    Ok(req) => self.request(key, req),
                    Err(e) => {
                        if let Some(conn) = self.conns.get_mut(&key) {
                            conn.finish(&Reply::Error { message: format!("bad request: {e}") });
                        }
                    }
                },
                (FrameKind::Stdin, Role::Attach { stdin: true, .. }) => self.main.queue_stdin(&frame.1),
                (FrameKind::StdinEof, Role::Attach { stdin: true, .. }) => self.main.close_stdin(),
                (FrameKind::Stdin, Role::Exec(id)) => {
                    if let Some((p, _)) = self.execs.get_mut(&id) {
                        p.queue_stdin(&frame.1);
                    }
                }
                (FrameKind::StdinEof, Role::Exec(id)) => {
                    if let Some((p, _)) = self.execs.get_mut(&id) {
                        p.close_stdin();
                    }
                }
                _ => {}
            }
        }
    }

    fn request(&mut self, key: u64, req: Request) {
        let reply = match req {
            Request::Start => Some(self.start()),
            Request::Wait => match &self.main.exit {
                Some(exit) if self.shutdown_deadline.is_some() => Some(Reply::Exited(exit.clone())),
                _ => {
                    self.set_role(key, Role::Wait);
                    None
                }
            },
            Request::Attach { stdin, stdout, stderr } => {
                if self.shutdown_deadline.is_some() {
                    Some(Reply::Error { message: "container is not running".into() })
                } else {
                    self.set_role(key, Role::Attach { stdin, stdout, stderr });
                    if let Some(conn) = self.conns.get_mut(&key) {
                        conn.reply(&Reply::Ok);
                    }
                    None
                }
            }
            Request::Exec { id, process, tty, stdin } => match self.exec(&id, &process, tty, stdin) {
                Ok(proc_) => {
                    let pid = proc_.pid;
                    tracing::debug!(pid, id = %id, "exec started");
                    self.execs.insert(id.clone(), (proc_, key));
                    self.set_role(key, Role::Exec(id));
                    if let Some(conn) = self.conns.get_mut(&key) {
                        conn.reply(&Reply::Started { pid });
                    }
                    None
                }
                Err(message) => Some(Reply::Error { message }),
            },
            Request::Resize { exec, height, width } => {
                let res = self.process_mut(exec.as_deref()).map(|p| p.resize(height, width));
                Some(match res {
                    Some(Ok(())) => Reply::Ok,
                    Some(Err(e)) => Reply::Error { message: format!("resize: {e}") },
                    None => Reply::Error { message: "no such exec".into() },
                })
            }
            Request::Kill { signal, all } => Some(self.kill(signal, all)),
            Request::KillExec { id, signal } => Some(self.kill_exec(&id, signal)),
            Request::Pause => Some(match self.container.pause() {
                Ok(()) => Reply::Ok,
                Err(e) => Reply::Error { message: error_chain(&e) },
            }),
            Request::Resume => Some(match self.container.resume() {
                Ok(()) => Reply::Ok,
                Err(e) => Reply::Error { message: error_chain(&e) },
            }),
            Request::State => Some(Reply::State(self.state())),
        };
        if let (Some(reply), Some(conn)) = (reply, self.conns.get_mut(&key)) {
            conn.finish(&reply);
        }
    }

    fn set_role(&mut self, key: u64, role: Role) {
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.role = role;
        }
    }

    fn start(&mut self) -> Reply {
        if self.started {
            return Reply::Error { message: "container already started".into() };
        }
        match self.container.start() {
            Ok(()) => {
                self.started = true;
                Reply::Ok
            }
            Err(e) => Reply::Error { message: error_chain(&e) },
        }
    }

    fn kill(&mut self, signal: i32, all: bool) -> Reply {
        if self.main.exit.is_some() {
            return Reply::Error { message: "container is not running".into() };
        }
        let sig = match Signal::try_from(signal) {
            Ok(sig) => sig,
            Err(_) => return Reply::Error { message: format!("invalid signal {signal}") },
        };
        // SIGKILL to the init of the container's own pid namespace takes every process in it
        // (execs included) with it: the kernel kills the namespace. libcontainer's "all" goes
        // through a cgroup manager, which reads the mount table once per v1 controller (a
        // quarter of a teardown's CPU with fifty containers running). A frozen container keeps
        // libcontainer's path, which thaws it.
        let frozen = self.container.status() == ContainerStatus::Paused;
        let res = if all && (sig != Signal::SIGKILL || frozen) {
            self.container.kill(sig, true).map_err(|e| error_chain(&e))
        } else {
            nix::sys::signal::kill(Pid::from_raw(self.main.pid), sig).map_err(|e| e.to_string())
        };
        match res {
            Ok(()) => Reply::Ok,
            Err(message) => Reply::Error { message },
        }
    }

    fn kill_exec(&mut self, id: &str, signal: i32) -> Reply {
        let Some((p, _)) = self.execs.get(id) else {
            return Reply::Error { message: format!("no such exec {id}") };
        };
        if p.exit.is_some() {
            return Reply::Ok; // already exited; its pid may not be ours any more
        }
        match Signal::try_from(signal) {
            Ok(sig) => match nix::sys::signal::kill(Pid::from_raw(p.pid), sig) {
                Ok(()) => Reply::Ok,
                Err(e) => Reply::Error { message: e.to_string() },
            },
            Err(_) => Reply::Error { message: format!("invalid signal {signal}") },
        }
    }

    fn exec(&mut self, id: &str, process: &std::path::Path, tty: bool, stdin: bool) -> Result<Process, String> {
        if self.main.exit.is_some() || !self.started {
            return Err("container is not running".into());
        }
        if self.execs.contains_key(id) {
            return Err(format!("exec {id} already running"));
        }
        let prepared = exec_seccomp::prepare(&self.layout, process)?;
        let base = builder(&self.id, &self.layout)?.with_executor(BerthExecutor { seccomp: prepared.seccomp.clone() });
        let result = self.build_exec(base, id, &prepared.process, tty, stdin);
        prepared.cleanup(process);
        result
    }

    /// Builds the exec'd process with `base`: a tty through a console socket, else pipes.
    fn build_exec(&mut self, base: ContainerBuilder, id: &str, process: &std::path::Path, tty: bool, stdin: bool) -> Result<Process, String> {
        if tty {
            let console = ConsoleSocket::bind(&self.layout.console_socket(&format!("e{}", &id[..id.len().min(12)]))).map_err(|e| e.to_string())?;
            let pid = base
                .with_console_socket(Some(console.path()))
                .as_tenant()
                .with_process(Some(process))
                .with_detach(true)
                .build()
                .map_err(|e| error_chain(&e))?;
            let io = console.receive(CONSOLE_TIMEOUT_MS).map_err(|e| e.to_string())?;
            Ok(Process::new(pid.as_raw(), io))
        } else {
            let (child, io) = stdio::pipes(stdin).map_err(|e| e.to_string())?;
            let pid = base
                .with_stdin(child.stdin)
                .with_stdout(child.stdout)
                .with_stderr(child.stderr)
                .as_tenant()
                .with_process(Some(process))
                .with_detach(true)
                .build()
                .map_err(|e| error_chain(&e))?;
            Ok(Process::new(pid.as_raw(), io))
        }
    }

    fn state(&mut self) -> ShimState {
        let _ = self.container.refresh_status();
        let status = if self.main.exit.is_some() { "stopped".to_string() } else { format!("{}", self.container.status()).to_lowercase() };
        ShimState { pid: self.main.pid, status, exit: self.main.exit.clone() }
    }

    /// Removes closed outputs, finished execs and finished connections.
    fn prune(&mut self) {
        self.main.outputs.retain(|o: &Output| o.open);
        for (p, _) in self.execs.values_mut() {
            p.outputs.retain(|o| o.open);
        }
        let finished: Vec<String> = self.execs.iter().filter(|(_, (p, _))| p.finished()).map(|(id, _)| id.clone()).collect();
        for id in finished {
            if let Some((p, owner)) = self.execs.remove(&id) {
                if let (Some(exit), Some(conn)) = (p.exit, self.conns.get_mut(&owner)) {
                    conn.finish(&Reply::Exited(exit));
                }
                let _ = std::fs::remove_file(self.layout.exec_process(&id));
            }
        }
        let done: Vec<u64> = self.conns.iter().filter(|(_, c)| c.done()).map(|(k, _)| *k).collect();
        for key in done {
            self.conns.remove(&key);
        }
    }

    /// Collects every exited child without blocking.
    fn reap(&mut self) {
        loop {
            let (pid, code) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            tracing::debug!(pid, code, execs = ?self.execs.values().map(|(p, _)| p.pid).collect::<Vec<_>>(), "reaped");
            if pid == self.main.pid {
                self.main.exit = Some(ExitStatus::now(code));
                self.drain_deadline = Some(Instant::now() + DRAIN_GRACE);
            } else if let Some((p, _)) = self.execs.values_mut().find(|(p, _)| p.pid == pid) {
                p.exit = Some(ExitStatus::now(code));
            }
        }
    }

    /// Moves to shutdown once the init process is gone and its output drained.
    fn settle(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        let Some(exit) = self.main.exit.clone() else { return };
        let drained = self.main.outputs.is_empty();
        let timed_out = self.drain_deadline.is_some_and(|d| Instant::now() >= d);
        if !drained && !timed_out {
            return;
        }
        if let Some(log) = self.log.as_mut() {
            log.flush();
        }
        if let Err(e) = status::write_json_atomic(&self.layout.exit_file(), &exit) {
            tracing::error!("write exit status: {e}");
        }
        for conn in self.conns.values_mut() {
            match conn.role {
                Role::Wait => conn.finish(&Reply::Exited(exit.clone())),
                Role::Attach { .. } => conn.closing = true,
                _ => {}
            }
        }
        self.main.outputs.clear();
        self.drain_deadline = None;
        self.shutdown_deadline = Some(Instant::now() + FLUSH_GRACE);
    }

    /// Deletes the runtime state (cgroup included) and the socket.
    ///
    /// The container's init is gone, and with it its pid namespace: what libcontainer's delete
    /// would still do is remove the cgroup (through a cgroup manager that reads the mount table
    /// once per v1 controller, half of a teardown's CPU with fifty containers running), run
    /// poststop hooks (berth's specs have none) and remove its state directory. The sweep reads
    /// the mount table once and waits out a cgroup that empties late; libcontainer's delete
    /// stays for a state it cannot read or a spec with poststop hooks.
    fn finish(&mut self) {
        match self.container.spec() {
            Ok(spec) if spec.hooks.as_ref().is_none_or(|h| h.poststop().as_ref().is_none_or(|p| p.is_empty())) => {
                for dir in super::cgroup_sweep::sweep(&spec.cgroup_path, super::cgroup_sweep::SWEEP_PATIENCE) {
                    tracing::warn!(dir = %dir.display(), "cgroup left behind: still busy");
                }
                if let Err(e) = std::fs::remove_dir_all(&self.container.root) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!("remove container state: {e}");
                    }
                }
            }
            other => {
                if let Err(e) = other {
                    tracing::warn!("read container state: {}", error_chain(&e));
                }
                if let Err(e) = self.container.delete(true) {
                    tracing::warn!("delete container state: {}", error_chain(&e));
                }
            }
        }
        let _ = std::fs::remove_file(self.layout.socket());
        let _ = std::fs::remove_file(self.layout.shim_pid_file());
    }
}

/// Appends what the container's init wrote on stderr before it failed (libcontainer reports
/// its init-side diagnostics there).
fn with_init_output(mut message: String, io: &mut stdio::ShimStdio) -> String {
    use std::io::Read;
    if let Some((_, file)) = io.outputs.iter_mut().find(|(s, _)| *s == Stream::Stderr) {
        let mut buf = vec![0u8; 8192];
        if let Ok(n) = file.read(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            let text = text.trim();
            if !text.is_empty() {
                tracing::error!("container init output: {text}");
            }
        }
    }
    message.truncate(4096);
    message
}

/// The fds of one poll round and what each refers to.
#[derive(Default)]
struct PollSet<'a> {
    fds: Vec<PollFd<'a>>,
    tokens: Vec<Token>,
}

impl<'a> PollSet<'a> {
    fn add(&mut self, fd: BorrowedFd<'a>, flags: PollFlags, token: Token) {
        self.fds.push(PollFd::new(fd, flags));
        self.tokens.push(token);
    }

    fn add_process(&mut self, id: Option<&String>, p: &'a Process, congested: bool) {
        if let Some(fd) = p.pidfd() {
            if p.exit.is_none() {
                self.add(fd, PollFlags::POLLIN, Token::Pid);
            }
        }
        if !congested {
            for (i, out) in p.outputs.iter().enumerate() {
                self.add(out.file.as_fd(), PollFlags::POLLIN, Token::Output(id.cloned(), i));
            }
        }
        if p.stdin_blocked() {
            if let Some(stdin) = p.stdin.as_ref() {
                self.add(stdin.as_fd(), PollFlags::POLLOUT, Token::Stdin(id.cloned()));
            }
        }
    }

    fn wait(mut self, timeout: PollTimeout) -> nix::Result<Vec<(Token, PollFlags)>> {
        loop {
            match poll(&mut self.fds, timeout) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(self.fds.iter().zip(self.tokens).filter_map(|(fd, token)| fd.revents().filter(|r| !r.is_empty()).map(|r| (token, r))).collect())
    }
}
