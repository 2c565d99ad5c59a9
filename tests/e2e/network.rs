//! Networking through the real clients: user-defined networks with name DNS and isolation,
//! published ports (loopback through the proxy, bridge addresses through DNAT, other
//! containers), `-P`, host/none/container modes, links and /etc files, a daemon killed with
//! `kill -9`, and bad input that must change nothing on the host. Each test runs its own
//! daemon with its own bridge; teardown removes its interfaces and nftables table even when a
//! test fails, and every test ends with the leak check (no veths, no DNAT rules left).
//!
//! Traffic only goes to 127.0.0.1 and to addresses of the test's own bridges. (busybox's
//! `wget -T` crashes in Debian's static build, so `timeout` bounds blocked attempts.)

use std::time::Duration;

use berth_e2e::{stderr, stdout, wait_until, Client, Daemon, HostDns};

const WEB: &str = "echo hello-$HOSTNAME > /tmp/index.html; exec httpd -f -p 8080 -h /tmp";

/// A TCP port on 127.0.0.1 that nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `curl -s URL` from the host.
fn curl(url: &str) -> Option<String> {
    let out = std::process::Command::new("curl").args(["-s", "--max-time", "3", url]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until `url` answers from the host; returns the body.
fn curl_until(url: &str) -> String {
    let mut body = None;
    wait_until(&format!("{url} to answer"), Duration::from_secs(20), || {
        body = curl(url);
        body.is_some()
    });
    body.unwrap_or_default()
}

fn inspect(d: &Daemon, c: Client, fmt: &str, what: &str) -> String {
    d.ok(c, &["inspect", "-f", fmt, what]).trim().to_string()
}

/// The gateway (host address) of a network.
fn gateway(d: &Daemon, net: &str) -> String {
    d.ok(Client::Docker, &["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", net]).trim().to_string()
}

/// The subnet of a network.
fn subnet_of(d: &Daemon, net: &str) -> String {
    d.ok(Client::Docker, &["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", net]).trim().to_string()
}

/// Runs a one-off busybox container with `args` and returns whether the shell command worked.
/// The trailing `exit` keeps `sh` as the container's pid 1: a lone command would be exec'd in
/// its place, and busybox `timeout` cannot kill a pid 1 that ignores SIGTERM.
fn works(d: &Daemon, c: Client, net: &str, cmd: &str) -> bool {
    let script = format!("{cmd}; exit $?");
    d.run(c, &["run", "--rm", "--network", net, "busybox", "sh", "-c", &script]).status.success()
}

#[test]
fn user_networks_resolve_names_and_isolate() {
    let d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    d.ok(c, &["network", "create", "appnet"]);
    d.ok(c, &["network", "create", "othernet"]);
    d.ok(c, &["run", "-d", "--name", "web", "--network", "appnet", "--network-alias", "frontend", "busybox", "sh", "-c", WEB]);
    let id = d.ok(c, &["inspect", "-f", "{{.Id}}", "web"]).trim()[..12].to_string();
    let ip = inspect(&d, c, "{{.NetworkSettings.Networks.appnet.IPAddress}}", "web");
    d.wget_until(c, "appnet", "http://web:8080/");
    for name in ["web", "frontend", id.as_str(), "web.appnet"] {
        let out = d.ok(c, &["run", "--rm", "--network", "appnet", "busybox", "wget", "-qO-", &format!("http://{name}:8080/")]);
        assert_eq!(out.trim(), format!("hello-{id}"), "by {name}");
    }
    let ping = d.ok(c, &["run", "--rm", "--network", "appnet", "busybox", "ping", "-c", "1", "-W", "3", "frontend"]);
    assert!(ping.contains(&format!("({ip})")) && ping.contains("1 packets received"), "{ping}");
    let resolv = d.ok(c, &["run", "--rm", "--network", "appnet", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(resolv.starts_with(&format!("nameserver {}\n", gateway(&d, "appnet"))), "{resolv}");

    // Another network, and the default bridge, can reach neither the name nor the address.
    assert!(!works(&d, c, "othernet", "ping -c 1 -W 1 web"), "name leaked across networks");
    assert!(!works(&d, c, "othernet", &format!("timeout 3 wget -qO- http://{ip}:8080/")), "othernet reached web");
    assert!(!works(&d, c, "bridge", &format!("timeout 3 wget -qO- http://{ip}:8080/")), "bridge reached web");

    // Network inspect lists the endpoint; a network with endpoints cannot go.
    let containers = d.ok(c, &["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "appnet"]);
    assert!(containers.trim().starts_with(&format!("web {ip}/")), "{containers}");
    let out = d.docker(&["network", "rm", "appnet"]);
    assert!(!out.status.success() && stderr(&out).contains("has active endpoints"), "{}", stderr(&out));

    // Connecting a running container makes it reachable from the other network, and back.
    d.ok(c, &["network", "connect", "--alias", "svc", "othernet", "web"]);
    assert_eq!(d.ok(c, &["run", "--rm", "--network", "othernet", "busybox", "wget", "-qO-", "http://svc:8080/"]).trim(), format!("hello-{id}"));
    assert_eq!(d.wait_veths(2).len(), 2, "one veth per network of web");
    d.ok(c, &["network", "disconnect", "othernet", "web"]);
    assert!(!works(&d, c, "othernet", "ping -c 1 -W 1 svc"));
    assert_eq!(d.wait_veths(1).len(), 1);

    d.ok(c, &["rm", "-f", "web"]);
    d.ok(c, &["network", "rm", "appnet", "othernet"]);
    assert_eq!(d.tagged_links().len(), 1, "only the default bridge is left: {:?}", d.tagged_links());
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn published_ports_answer_on_loopback_bridge_and_from_containers() {
    let d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:8080");
    d.ok(c, &["run", "-d", "--name", "pinned", "-p", &spec, "busybox", "sh", "-c", WEB]);
    let id = d.ok(c, &["inspect", "-f", "{{.Id}}", "pinned"]).trim()[..12].to_string();
    assert_eq!(curl_until(&format!("http://127.0.0.1:{port}/")).trim(), format!("hello-{id}"));
    assert_eq!(d.ok(c, &["port", "pinned"]).trim(), format!("8080/tcp -> 127.0.0.1:{port}"));
    assert!(!d.nft_table().contains(&format!("dport {port} ")), "loopback-only ports are not DNATed");

    // A range takes its first free port.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let held = holder.local_addr().expect("addr").port();
    let range = format!("127.0.0.1:{held}-{}:8080", held + 1);
    d.ok(c, &["run", "-d", "--name", "ranged", "-p", &range, "busybox", "sh", "-c", WEB]);
    assert_eq!(d.ok(c, &["port", "ranged", "8080"]).trim(), format!("127.0.0.1:{}", held + 1));
    assert!(curl_until(&format!("http://127.0.0.1:{}/", held + 1)).starts_with("hello-"));
    drop(holder);
    d.ok(c, &["rm", "-f", "ranged"]);

    // -P publishes every exposed port on a random port that `docker port` reports.
    d.ok(c, &["run", "-d", "--name", "all", "--expose", "8080", "--expose", "9090/udp", "-P", "busybox", "sh", "-c", WEB]);
    let tcp = d.ok(c, &["port", "all", "8080"]).trim().to_string();
    let host_port = tcp.strip_prefix("0.0.0.0:").unwrap_or_else(|| panic!("unexpected `docker port`: {tcp}")).to_string();
    assert!(d.ok(c, &["port", "all", "9090/udp"]).trim().starts_with("0.0.0.0:"));
    let all = d.ok(c, &["port", "all"]);
    assert!(all.contains(&format!("8080/tcp -> 0.0.0.0:{host_port}")) && all.contains("9090/udp -> 0.0.0.0:"), "{all}");
    let ps = d.ok(c, &["ps", "--format", "{{.Names}} {{.Ports}}"]);
    assert!(ps.contains(&format!("all 0.0.0.0:{host_port}->8080/tcp")), "{ps}");
    let inspected = inspect(&d, c, "{{json .NetworkSettings.Ports}}", "all");
    assert!(inspected.contains(&format!("\"HostPort\":\"{host_port}\"")), "{inspected}");

    let id_all = d.ok(c, &["inspect", "-f", "{{.Id}}", "all"]).trim()[..12].to_string();
    let want = format!("hello-{id_all}");
    // Loopback goes through the userland proxy ...
    assert_eq!(curl_until(&format!("http://127.0.0.1:{host_port}/")).trim(), want);
    // ... the bridge's own address through DNAT ...
    let gw = gateway(&d, "bridge");
    assert!(d.nft_table().contains(&format!("tcp dport {host_port} dnat to")), "{}", d.nft_table());
    assert_eq!(curl_until(&format!("http://{gw}:{host_port}/")).trim(), want);
    // ... and another container reaches it through a host address (hairpin).
    let from_container = d.ok(c, &["run", "--rm", "busybox", "wget", "-qO-", &format!("http://{gw}:{host_port}/")]);
    assert_eq!(from_container.trim(), want);

    // Stopping a container withdraws its rules, proxy and veth.
    d.ok(c, &["stop", "-t", "0", "all"]);
    assert!(!d.nft_table().contains("dnat to"), "{}", d.nft_table());
    assert!(curl(&format!("http://127.0.0.1:{host_port}/")).is_none());
    assert_eq!(d.wait_veths(1).len(), 1);
    assert_eq!(inspect(&d, c, "{{json .NetworkSettings.Ports}}", "all"), "{}");
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn host_none_and_container_modes() {
    let d = Daemon::start();
    let c = Client::Berth;
    d.busybox(c, "busybox");
    assert_eq!(d.ok(c, &["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]).trim(), "lo");
    let host_ifaces = d.ok(c, &["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]);
    assert!(host_ifaces.lines().any(|l| l == d.bridge), "host mode sees the host's interfaces: {host_ifaces}");
    let hosted = d.ok(c, &["create", "--network", "host", "busybox", "true"]);
    assert_eq!(inspect(&d, c, "{{.HostConfig.NetworkMode}}", hosted.trim()), "host");
    let ifaces = d.ok(c, &["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(ifaces.split_whitespace().collect::<Vec<_>>(), vec!["eth0", "lo"]);
    // A default-bridge container has an address of the bridge's subnet and its default route.
    let route = d.ok(c, &["run", "--rm", "busybox", "ip", "route"]);
    assert!(route.contains(&format!("default via {}", gateway(&d, "bridge"))), "{route}");

    d.ok(c, &["run", "-d", "--name", "web", "busybox", "sh", "-c", WEB]);
    let id = d.ok(c, &["inspect", "-f", "{{.Id}}", "web"]).trim()[..12].to_string();
    d.wget_until(c, "container:web", "http://127.0.0.1:8080/");
    let shared = d.ok(c, &["run", "--rm", "--network", "container:web", "busybox", "sh", "-c", "wget -qO- http://127.0.0.1:8080/; hostname"]);
    assert_eq!(shared.lines().next(), Some(format!("hello-{id}").as_str()));
    assert_eq!(d.wait_veths(1).len(), 1, "container mode adds no interface");
    let out = d.run(c, &["run", "--rm", "--network", "container:web", "-p", "80:80", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn links_hosts_dns_and_static_addresses() {
    let d = Daemon::start();
    let c = Client::Berth;
    d.busybox(c, "busybox");
    d.ok(c, &["run", "-d", "--name", "db", "--expose", "5432", "-e", "SECRET=s3", "busybox", "sleep", "1000"]);
    let db_ip = inspect(&d, c, "{{.NetworkSettings.IPAddress}}", "db");
    let gw = gateway(&d, "bridge");
    let out = d.ok(
        c,
        &[
            "run",
            "--rm",
            "--link",
            "db:database",
            "--add-host",
            "h1:192.0.2.10",
            "--add-host",
            "gw:host-gateway",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.test",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts /etc/resolv.conf; env",
        ],
    );
    for want in [
        format!("{db_ip}\tdatabase "),
        "192.0.2.10\th1".to_string(),
        format!("{gw}\tgw"),
        "nameserver 192.0.2.53".to_string(),
        "search example.test".to_string(),
        format!("DATABASE_PORT_5432_TCP_ADDR={db_ip}"),
        "DATABASE_ENV_SECRET=s3".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    // A link to a container that is not running fails the start, and leaves nothing behind.
    d.ok(c, &["stop", "-t", "0", "db"]);
    let out = d.run(c, &["run", "--rm", "--link", "db:database", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("Cannot link to a non running container"), "{}", stderr(&out));
    assert!(d.wait_veths(0).is_empty());

    // --ip needs a network whose subnet the user chose.
    let subnet = create_on_free_subnet(&d, "fixed", |_| Vec::new());
    let fixed_ip = format!("{}.77", base_of(&subnet));
    let ip = d.ok(c, &["run", "--rm", "--network", "fixed", "--ip", &fixed_ip, "busybox", "sh", "-c", "ip -o -4 addr show eth0"]);
    assert!(ip.contains(&format!("inet {fixed_ip}/")), "{ip}");
    let out = d.run(c, &["run", "--rm", "--network", "fixed", "--ip", "203.0.113.5", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("no configured subnet contains IP address"), "{}", stderr(&out));
    let out = d.run(c, &["run", "--rm", "--ip", "172.17.0.99", "busybox", "true"]);
    assert!(stderr(&out).contains("user specified IP address is supported only"), "{}", stderr(&out));
    d.ok(c, &["network", "rm", "fixed"]);
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn killed_daemon_keeps_live_ports_and_cleans_up_dead_endpoints() {
    let mut d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    d.ok(c, &["network", "create", "appnet"]);
    let (live_port, dead_port) = (free_port(), free_port());
    d.ok(c, &["run", "-d", "--name", "live", "--network", "appnet", "-p", &format!("{live_port}:8080"), "busybox", "sh", "-c", WEB]);
    d.ok(c, &["run", "-d", "--name", "peer", "--network", "appnet", "busybox", "sleep", "1000"]);
    d.ok(c, &["run", "-d", "--name", "dies", "-p", &format!("{dead_port}:8080"), "busybox", "sh", "-c", &format!("{WEB} & sleep 6")]);
    curl_until(&format!("http://127.0.0.1:{live_port}/"));
    curl_until(&format!("http://127.0.0.1:{dead_port}/"));
    assert_eq!(d.wait_veths(3).len(), 3);
    let dead_ip = inspect(&d, c, "{{.NetworkSettings.IPAddress}}", "dies");

    d.kill9();
    // While the daemon is down, the live port keeps working through DNAT and `dies` exits.
    let gw = gateway_from_table(&d);
    assert!(curl(&format!("http://{gw}:{live_port}/")).is_some(), "DNAT survives the daemon");
    std::thread::sleep(Duration::from_secs(7));
    d.respawn();

    let id = d.ok(c, &["inspect", "-f", "{{.Id}}", "live"]).trim()[..12].to_string();
    assert_eq!(curl_until(&format!("http://127.0.0.1:{live_port}/")).trim(), format!("hello-{id}"), "the proxy is back");
    assert_eq!(curl_until(&format!("http://{gw}:{live_port}/")).trim(), format!("hello-{id}"));
    assert_eq!(inspect(&d, c, "{{.State.Status}}", "dies"), "exited");
    assert_eq!(d.wait_veths(2).len(), 2, "the dead container's veth is gone: {:?}", d.veths());
    let on_bridge = d.ok(c, &["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "bridge"]);
    assert!(!on_bridge.contains("dies"), "the dead container's endpoint record is gone: {on_bridge}");
    let table = d.nft_table();
    assert!(table.contains(&format!("dport {live_port} ")) && !table.contains(&format!("dport {dead_port} ")), "{table}");
    assert!(curl(&format!("http://127.0.0.1:{dead_port}/")).is_none());
    // Name resolution on the user network came back with the daemon.
    assert_eq!(d.ok(c, &["exec", "peer", "wget", "-qO-", "http://live:8080/"]).trim(), format!("hello-{id}"));
    // The dead container's address was freed but is not handed out again right away.
    let next = d.ok(c, &["run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0"]);
    assert!(!next.contains(&format!("inet {dead_ip}/")), "{dead_ip} reused at once: {next}");
    d.ok(c, &["rm", "-f", "live", "peer"]);
    d.ok(c, &["network", "rm", "appnet"]);
    d.assert_no_leaks_after_cleanup();
}

/// The default bridge's gateway, read from the host (the API is down while it is needed).
fn gateway_from_table(d: &Daemon) -> String {
    let out = std::process::Command::new("ip").args(["-o", "-4", "addr", "show", "dev", &d.bridge]).output().expect("ip");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().skip_while(|w| *w != "inet").nth(1).and_then(|a| a.split('/').next()).unwrap_or_default().to_string()
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    d.ok(c, &["network", "create", "first"]);
    let subnet = d.ok(c, &["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "first"]).trim().to_string();
    let before = (d.tagged_links(), d.nft_table());

    let out = d.docker(&["network", "create", "--subnet", &subnet, "second"]);
    assert!(!out.status.success() && stderr(&out).contains("overlaps"), "{}", stderr(&out));
    let bridge_subnet = d.ok(c, &["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge"]).trim().to_string();
    let body = format!("{{\"Name\":\"third\",\"IPAM\":{{\"Config\":[{{\"Subnet\":\"{bridge_subnet}\"}}]}}}}");
    assert_eq!(d.api("POST", "/networks/create", Some(body.as_bytes())).status, 403);
    let out = d.docker(&["network", "create", "first"]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(d.api("POST", "/networks/create", Some(b"{\"Name\":\"first\"}")).status, 409);
    assert_eq!(d.api("POST", "/networks/create", Some(b"{\"Name\":\"x\",\"Driver\":\"overlay\"}")).status, 404);
    assert_eq!(d.api("POST", "/networks/create", Some(b"{\"Name\":\"x\",\"IPAM\":{\"Config\":[{\"Subnet\":\"10.0.0.0/33\"}]}}")).status, 400);
    let out = d.docker(&["network", "rm", "bridge"]);
    assert!(stderr(&out).contains("pre-defined network"), "{}", stderr(&out));
    assert_eq!(d.api("DELETE", "/networks/host", None).status, 403);

    let networks = d.ok(c, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.lines().any(|n| n == "second" || n == "third"), "a refused network was recorded: {networks}");
    let out = d.docker(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("network nope not found"), "{}", stderr(&out));
    assert_eq!(d.ok(c, &["ps", "-aq"]), "", "no container record for an unknown network");
    assert_eq!(d.api("GET", "/networks/nope", None).status, 404);
    d.ok(c, &["create", "--name", "idle", "busybox", "true"]);
    let out = d.docker(&["network", "connect", "nope", "idle"]);
    assert!(!out.status.success() && stderr(&out).contains("not found"), "{}", stderr(&out));
    let out = d.docker(&["run", "--rm", "-p", "70000:80", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));

    // A host port held by someone else: refused with a 4xx, the container is not started and
    // no interface or rule appears.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let out = d.docker(&["run", "-d", "--name", "clash", "-p", &format!("127.0.0.1:{port}:80"), "busybox", "sleep", "100"]);
    assert_eq!(out.status.code(), Some(125), "{}", stdout(&out));
    assert!(stderr(&out).contains("port is already allocated"), "{}", stderr(&out));
    let start = d.api("POST", "/containers/clash/start", None);
    assert_eq!(start.status, 409, "{}", String::from_utf8_lossy(&start.body));
    assert_eq!(inspect(&d, c, "{{.State.Status}}", "clash"), "created");
    let endpoints = d.ok(c, &["network", "inspect", "-f", "{{len .Containers}}", "bridge"]);
    assert_eq!(endpoints.trim(), "0", "no endpoint record or lease is left");
    drop(holder);

    assert_eq!((d.tagged_links(), d.nft_table()), before, "the host is as it was");
    d.ok(c, &["network", "rm", "first"]);
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn network_verbs_with_berth() {
    let d = Daemon::start();
    let c = Client::Berth;
    d.busybox(c, "busybox");
    let id = d.ok(c, &["network", "create", "--label", "team=web", "--internal", "backend"]).trim().to_string();
    assert_eq!(id.len(), 64);
    let ls = d.ok(c, &["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID"), "{ls}");
    for n in ["bridge", "host", "none", "backend"] {
        assert!(ls.lines().any(|l| l.split_whitespace().nth(1) == Some(n)), "{n} in {ls}");
    }
    assert_eq!(d.ok(c, &["network", "ls", "-q", "--filter", "label=team=web"]).trim(), &id[..12]);
    assert_eq!(d.ok(c, &["network", "ls", "--filter", "type=custom", "--format", "{{.Name}}"]).trim(), "backend");
    assert_eq!(d.ok(c, &["network", "inspect", "-f", "{{.Internal}} {{.Driver}}", "backend"]).trim(), "true bridge");
    assert_eq!(d.ok(Client::Docker, &["network", "inspect", "-f", "{{.Name}}", &id[..6]]).trim(), "backend");

    // compose's flow: create on a network, disconnect and reconnect with aliases, then start.
    d.ok(c, &["create", "--name", "api", "--network", "backend", "busybox", "sh", "-c", WEB]);
    d.ok(c, &["network", "disconnect", "backend", "api"]);
    d.ok(c, &["network", "connect", "--alias", "api-svc", "backend", "api"]);
    assert_eq!(inspect(&d, c, "{{json .NetworkSettings.Networks.backend.Aliases}}", "api"), "[\"api-svc\"]");
    d.ok(c, &["start", "api"]);
    d.wget_until(c, "backend", "http://api-svc:8080/");
    // An internal network has no way out: no default route, and the default bridge's gateway
    // is unreachable.
    let route = d.ok(c, &["run", "--rm", "--network", "backend", "busybox", "ip", "route"]);
    assert!(!route.contains("default"), "{route}");
    assert!(!works(&d, c, "backend", &format!("ping -c 1 -W 1 {}", gateway(&d, "bridge"))));

    let out = d.run(c, &["network", "rm", "backend"]);
    assert!(!out.status.success() && stderr(&out).contains("active endpoints"), "{}", stderr(&out));
    d.ok(c, &["rm", "-f", "api"]);
    d.ok(c, &["network", "create", "spare"]);
    let pruned = d.ok(c, &["network", "prune", "-f"]);
    assert!(pruned.contains("backend") && pruned.contains("spare"), "{pruned}");
    assert_eq!(d.ok(c, &["network", "ls", "-q", "--filter", "type=custom"]), "");
    assert!(!d.run(c, &["network", "rm", "gone"]).status.success());
    d.ok(c, &["network", "rm", "-f", "gone"]);
    d.assert_no_leaks_after_cleanup();
}

/// Creates network `name` with `--subnet` and `extra(subnet)` on a subnet free on the host,
/// and returns the subnet. The daemon finds one (a probe network that is removed at once);
/// the daemons of tests running in parallel may take it before our create, which the daemon
/// then refuses (it checks the host's routes under the host-wide lock), and we try again.
fn create_on_free_subnet(d: &Daemon, name: &str, extra: impl Fn(&str) -> Vec<String>) -> String {
    let c = Client::Docker;
    for _ in 0..10 {
        let probe = format!("{name}-probe");
        d.ok(c, &["network", "create", &probe]);
        let subnet = subnet_of(d, &probe);
        d.ok(c, &["network", "rm", &probe]);
        let mut args = vec!["network".to_string(), "create".into(), "--subnet".into(), subnet.clone()];
        args.extend(extra(&subnet));
        args.push(name.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = d.docker(&args);
        if out.status.success() {
            return subnet;
        }
        assert!(stderr(&out).contains("overlaps"), "{args:?}: {}", stderr(&out));
    }
    panic!("no free subnet for {name} after 10 tries");
}

/// The first three octets of a subnet's address (`172.18.0` for `172.18.0.0/16`).
fn base_of(subnet: &str) -> String {
    subnet.split('/').next().unwrap_or_default().rsplit_once('.').map(|(a, _)| a.to_string()).unwrap_or_default()
}

#[test]
fn network_options_static_addresses_and_ipam_across_restarts() {
    let mut d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    // Gateway, a four-address ip-range and the bridge's name as a driver option, on a subnet
    // the user chose (a free one).
    let brname = format!("{}r", d.bridge);
    let name_opt = format!("com.docker.network.bridge.name={brname}");
    let s1 = create_on_free_subnet(&d, "ranged", |s| {
        let b = base_of(s);
        vec![format!("--gateway={b}.254"), format!("--ip-range={b}.128/30"), "-o".into(), name_opt.clone()]
    });
    let b1 = base_of(&s1);
    let (gw, range) = (format!("{b1}.254"), format!("{b1}.128/30"));
    let ipam = d.ok(c, &["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}}", "ranged"]);
    assert_eq!(ipam.trim(), format!("{s1} {gw} {range}"));
    let addr = std::process::Command::new("ip").args(["-o", "-4", "addr", "show", "dev", &brname]).output().expect("ip");
    let prefix = s1.split('/').nth(1).unwrap_or_default();
    assert!(String::from_utf8_lossy(&addr.stdout).contains(&format!("inet {gw}/{prefix} ")), "bridge {brname}: {}", String::from_utf8_lossy(&addr.stdout));
    let b2 = base_of(&create_on_free_subnet(&d, "second", |_| Vec::new()));

    // connect --ip --alias on a created container, before its first start.
    d.ok(c, &["create", "--name", "late", "--network", "ranged", "busybox", "sh", "-c", WEB]);
    let fixed = format!("{b2}.77");
    d.ok(c, &["network", "connect", "--ip", &fixed, "--alias", "late-svc", "second", "late"]);
    assert_eq!(inspect(&d, c, "{{.NetworkSettings.Networks.second.IPAMConfig.IPv4Address}}", "late"), fixed);
    d.ok(c, &["start", "late"]);
    let id = d.ok(c, &["inspect", "-f", "{{.Id}}", "late"]).trim()[..12].to_string();
    let addrs = d.ok(c, &["exec", "late", "ip", "-o", "-4", "addr"]);
    assert!(addrs.contains(&format!("inet {fixed}/")), "{addrs}");
    assert_eq!(d.wget_until(c, "second", "http://late-svc:8080/").trim(), format!("hello-{id}"));
    // The fixed address is taken while late lives.
    let out = d.run(c, &["run", "--rm", "--network", "second", "--ip", &fixed, "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("Address already in use"), "{}", stderr(&out));

    // Addresses come from the range only and are never handed out twice, across a kill -9.
    d.ok(c, &["run", "-d", "--name", "r1", "--network", "ranged", "busybox", "sleep", "1000"]);
    let mut seen = vec![ip_on_ranged(&d, "late"), ip_on_ranged(&d, "r1")];
    d.kill9_and_restart();
    d.ok(c, &["run", "-d", "--name", "r2", "--network", "ranged", "busybox", "sleep", "1000"]);
    d.ok(c, &["run", "-d", "--name", "r3", "--network", "ranged", "busybox", "sleep", "1000"]);
    seen.extend([ip_on_ranged(&d, "r2"), ip_on_ranged(&d, "r3")]);
    let mut want: Vec<String> = (128..132).map(|i| format!("{b1}.{i}")).collect();
    seen.sort();
    want.sort();
    assert_eq!(seen, want, "the four addresses of the range, each once");
    let veths = d.veths().len();
    let out = d.run(c, &["run", "-d", "--name", "full", "--network", "ranged", "busybox", "sleep", "1000"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("no available IPv4 addresses"), "{}", stderr(&out));
    assert_eq!(d.wait_veths(veths).len(), veths, "a refused start leaves no veth");
    // A freed address is handed out again once the range is exhausted.
    let freed = ip_on_ranged(&d, "r3");
    d.ok(c, &["rm", "-f", "r3", "full"]);
    d.ok(c, &["run", "-d", "--name", "r4", "--network", "ranged", "busybox", "sleep", "1000"]);
    assert_eq!(ip_on_ranged(&d, "r4"), freed);

    d.ok(c, &["rm", "-f", "late", "r1", "r2", "r4"]);
    d.ok(c, &["network", "rm", "ranged", "second"]);
    assert!(!d.tagged_links().iter().any(|(n, _)| *n == brname), "{brname} removed with its network");
    d.assert_no_leaks_after_cleanup();
}

/// `(rx_bytes, tx_bytes)` of `eth0` in the container's stats, through the API.
fn net_io(d: &Daemon, name: &str) -> (u64, u64) {
    let r = d.api("GET", &format!("/containers/{name}/stats?stream=false&one-shot=true"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("stats JSON");
    let eth0 = &v["networks"]["eth0"];
    (eth0["rx_bytes"].as_u64().unwrap_or(0), eth0["tx_bytes"].as_u64().unwrap_or(0))
}

#[test]
fn stats_count_network_traffic() {
    let d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    const SIZE: u64 = 300_000;
    d.ok(c, &["network", "create", "statnet"]);
    let serve = format!("head -c {SIZE} /dev/zero > /tmp/big; exec httpd -f -p 8080 -h /tmp");
    d.ok(c, &["run", "-d", "--name", "server", "--network", "statnet", "busybox", "sh", "-c", &serve]);
    d.ok(c, &["run", "-d", "--name", "client", "--network", "statnet", "busybox", "sleep", "1000"]);
    wait_until("server to serve", Duration::from_secs(20), || {
        d.run(c, &["exec", "client", "wget", "-qO", "/dev/null", "http://server:8080/big"]).status.success()
    });
    let (client_rx, _) = net_io(&d, "client");
    let (_, server_tx) = net_io(&d, "server");
    d.ok(c, &["exec", "client", "wget", "-qO", "/dev/null", "http://server:8080/big"]);
    let (client_rx2, _) = net_io(&d, "client");
    let (_, server_tx2) = net_io(&d, "server");
    assert!(client_rx2 >= client_rx + SIZE, "client rx {client_rx} -> {client_rx2}");
    assert!(server_tx2 >= server_tx + SIZE, "server tx {server_tx} -> {server_tx2}");
    // docker stats shows it as NET I/O; host and none containers have no interfaces to count.
    let shown = d.ok(c, &["stats", "--no-stream", "--format", "{{.NetIO}}", "client"]);
    assert!(shown.trim().split(" / ").next().is_some_and(|rx| rx.ends_with("kB") || rx.ends_with("MB")), "{shown}");
    d.ok(c, &["run", "-d", "--name", "hosted", "--network", "host", "busybox", "sleep", "1000"]);
    let r = d.api("GET", "/containers/hosted/stats?stream=false&one-shot=true", None);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("stats JSON");
    assert!(v["networks"].as_object().is_none_or(|m| m.is_empty()), "{}", v["networks"]);
    d.ok(c, &["rm", "-f", "server", "client", "hosted"]);
    d.ok(c, &["network", "rm", "statnet"]);
    d.assert_no_leaks_after_cleanup();
}

fn ip_on_ranged(d: &Daemon, name: &str) -> String {
    inspect(d, Client::Docker, "{{.NetworkSettings.Networks.ranged.IPAddress}}", name)
}

/// A UDP responder inside a container's network namespace: busybox (Debian's static build) has
/// no UDP server applet (`nc` lacks `-u`, no `udpsvd`), so the test binds the socket itself
/// from a thread that entered the namespace of the container's process, and answers every
/// datagram with `pong:<payload>`. Dropping it stops the thread and closes the socket (which
/// would otherwise keep the namespace alive).
struct UdpResponder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpResponder {
    fn start(pid: &str, port: u16) -> UdpResponder {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("the container's netns");
        let sock = std::thread::spawn(move || {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            std::net::UdpSocket::bind(("0.0.0.0", port)).expect("bind in the container")
        })
        .join()
        .expect("responder socket");
        sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let mut answer = b"pong:".to_vec();
                    answer.extend_from_slice(&buf[..n]);
                    let _ = sock.send_to(&answer, from);
                }
            }
        });
        UdpResponder { stop, thread: Some(thread) }
    }
}

impl Drop for UdpResponder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `payload` to `to` from the host and returns the first answer, if one comes within a
/// second.
fn udp_ask(to: &str, payload: &str) -> Option<String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    s.send_to(payload.as_bytes(), to).ok()?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A UDP port on 127.0.0.1 that nothing uses right now.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free UDP port")
}

#[test]
fn udp_published_ports_answer_on_loopback_and_bridge() {
    let d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    let (lo_port, any_port) = (free_udp_port(), free_udp_port());
    let (lo_spec, any_spec) = (format!("127.0.0.1:{lo_port}:5300/udp"), format!("{any_port}:5300/udp"));
    d.ok(c, &["run", "-d", "--name", "udp", "-p", &lo_spec, "-p", &any_spec, "busybox", "sleep", "1000"]);
    let ports = d.ok(c, &["port", "udp"]);
    assert!(ports.contains(&format!("5300/udp -> 127.0.0.1:{lo_port}")) && ports.contains(&format!("5300/udp -> 0.0.0.0:{any_port}")), "{ports}");
    let responder = UdpResponder::start(&inspect(&d, c, "{{.State.Pid}}", "udp"), 5300);

    // Loopback: through the userland proxy (loopback is never DNATed).
    let table = d.nft_table();
    assert!(!table.contains(&format!("dport {lo_port} ")), "{table}");
    let mut got = None;
    wait_until("the loopback UDP port to answer", Duration::from_secs(20), || {
        got = udp_ask(&format!("127.0.0.1:{lo_port}"), "one");
        got.is_some()
    });
    assert_eq!(got.as_deref(), Some("pong:one"));
    // Each datagram of a flow is relayed, both ways, not only the first.
    assert_eq!(udp_ask(&format!("127.0.0.1:{lo_port}"), "two").as_deref(), Some("pong:two"));
    // The bridge's address: DNAT in the kernel.
    let gw = gateway(&d, "bridge");
    assert!(table.contains(&format!("udp dport {any_port} dnat to")), "{table}");
    assert_eq!(udp_ask(&format!("{gw}:{any_port}"), "three").as_deref(), Some("pong:three"));
    // 0.0.0.0 also covers loopback, through the proxy.
    assert_eq!(udp_ask(&format!("127.0.0.1:{any_port}"), "four").as_deref(), Some("pong:four"));
    // Nothing answers on the loopback-only port through the bridge address.
    assert_eq!(udp_ask(&format!("{gw}:{lo_port}"), "five"), None);

    d.ok(c, &["stop", "-t", "0", "udp"]);
    drop(responder);
    assert_eq!(udp_ask(&format!("127.0.0.1:{lo_port}"), "six"), None, "the proxy stopped with the container");
    assert!(!d.nft_table().contains("dnat to"), "{}", d.nft_table());
    d.assert_no_leaks_after_cleanup();
}

/// A fake upstream DNS resolver: answers `A <name>` with `ip` for the one name it knows,
/// NXDOMAIN for other A questions and an empty NOERROR for other types; records the sources
/// of the questions about `name`.
struct FakeResolver {
    asked_by: std::sync::Arc<std::sync::Mutex<Vec<std::net::IpAddr>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeResolver {
    fn start(listen: &str, name: &'static str, ip: [u8; 4]) -> FakeResolver {
        let sock = std::net::UdpSocket::bind(listen).unwrap_or_else(|e| panic!("bind the fake resolver on {listen}: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let asked_by: std::sync::Arc<std::sync::Mutex<Vec<std::net::IpAddr>>> = Default::default();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, flag) = (asked_by.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
                let Some((qname, qtype, end)) = dns_question(&buf[..n]) else { continue };
                let known = qname.trim_end_matches('.').eq_ignore_ascii_case(name);
                if known {
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(from.ip());
                }
                let mut a = buf[..end].to_vec();
                let rcode = if known || qtype != 1 { 0 } else { 3 };
                a[2] = 0x81; // QR, RD
                a[3] = 0x80 | rcode; // RA
                a[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
                if known && qtype == 1 {
                    a[7] = 1;
                    a.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                    a.extend_from_slice(&ip);
                }
                let _ = sock.send_to(&a, from);
            }
        });
        FakeResolver { asked_by, stop, thread: Some(thread) }
    }

    fn asked_by(&self) -> Vec<std::net::IpAddr> {
        self.asked_by.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for FakeResolver {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The question of a DNS query: name, type, and where the question section ends.
fn dns_question(p: &[u8]) -> Option<(String, u16, usize)> {
    if p.len() < 12 || p[4..6] != [0, 1] {
        return None;
    }
    let (mut i, mut labels) = (12, Vec::new());
    loop {
        let len = *p.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(p.get(i..i + len)?).into_owned());
        i += len;
    }
    let qtype = u16::from_be_bytes([*p.get(i)?, *p.get(i + 1)?]);
    Some((labels.join("."), qtype, i + 4))
}

#[test]
fn dns_options_and_forwarding_to_the_containers_resolvers() {
    let d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    d.ok(c, &["network", "create", "dnsnet"]);
    // The fake upstream listens on port 53 of the default bridge's gateway, a host address of
    // this test's own daemon where nothing else listens (only user networks get an embedded
    // DNS server). Containers point at it with --dns, which never touches the host's
    // /etc/resolv.conf.
    let upstream = gateway(&d, "bridge");
    const NAME: &str = "fake-upstream.berth.test";
    let resolver = FakeResolver::start(&format!("{upstream}:53"), NAME, [198, 51, 100, 77]);
    let flags = ["--dns", upstream.as_str(), "--dns-search", "example.test", "--dns-option", "ndots:2", "--dns-option", "timeout:3"];

    // The API keeps them as given.
    let mut create = vec!["create", "--name", "held", "--network", "dnsnet"];
    create.extend(flags);
    create.extend(["busybox", "true"]);
    d.ok(c, &create);
    let hc = inspect(&d, c, "{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}} {{json .HostConfig.DnsOptions}}", "held");
    assert_eq!(hc, format!("[\"{upstream}\"] [\"example.test\"] [\"ndots:2\",\"timeout:3\"]"));

    // On a user network the embedded server is the only nameserver, the options are the
    // user's, and names it does not know go to the container's --dns server.
    let script = format!("cat /etc/resolv.conf; nslookup {NAME}");
    let mut run = vec!["run", "--rm", "--network", "dnsnet"];
    run.extend(flags);
    run.extend(["busybox", "sh", "-c", &script]);
    let out = d.ok(c, &run);
    let embedded = gateway(&d, "dnsnet");
    assert!(out.starts_with(&format!("nameserver {embedded}\nsearch example.test\noptions ndots:2 timeout:3\n")), "{out}");
    assert!(out.contains("198.51.100.77"), "the upstream's answer came back: {out}");
    let prefix = format!("{}.", base_of(&subnet_of(&d, "dnsnet")));
    let asked = resolver.asked_by();
    assert!(!asked.is_empty() && asked.iter().all(|ip| !ip.to_string().starts_with(&prefix)), "forwarded by the daemon, not asked by the container: {asked:?}");
    // A name nobody knows is NXDOMAIN from the upstream, passed back.
    let mut miss = vec!["run", "--rm", "--network", "dnsnet"];
    miss.extend(flags);
    miss.extend(["busybox", "nslookup", "nobody.berth.test"]);
    let out = d.run(c, &miss);
    assert!(!out.status.success() && stdout(&out).contains("NXDOMAIN"), "{}{}", stdout(&out), stderr(&out));

    // On the default bridge there is no embedded server: the container asks --dns itself.
    let before = resolver.asked_by().len();
    let mut direct = vec!["run", "--rm"];
    direct.extend(flags);
    direct.extend(["busybox", "sh", "-c", &script]);
    let out = d.ok(c, &direct);
    assert!(out.starts_with(&format!("nameserver {upstream}\nsearch example.test\noptions ndots:2 timeout:3\n")), "{out}");
    assert!(out.contains("198.51.100.77"), "{out}");
    let bridge_prefix = format!("{}.", base_of(&subnet_of(&d, "bridge")));
    assert!(resolver.asked_by()[before..].iter().any(|ip| ip.to_string().starts_with(&bridge_prefix)), "{:?}", resolver.asked_by());

    d.ok(c, &["rm", "-f", "held"]);
    d.ok(c, &["network", "rm", "dnsnet"]);
    drop(resolver);
    d.assert_no_leaks_after_cleanup();
}

/// A loopback address of the host nobody else uses (127.0.0.1 and systemd-resolved's
/// 127.0.0.53 are left alone), so parallel tests can each run a fake resolver on port 53.
fn private_loopback() -> String {
    let mut b = [0u8; 3];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").expect("urandom"), &mut b).expect("random");
    format!("127.{}.{}.{}", 100 + b[0] % 100, b[1], 1 + b[2] % 250)
}

#[test]
fn dns_forwards_to_the_hosts_resolvers_without_dns_flags() {
    // The host's only resolver is on a loopback address, as with systemd-resolved's stub: a
    // container cannot reach it, the daemon (in the host's network namespace) can. The daemon
    // runs in a mount namespace of its own whose /etc/resolv.conf names that resolver.
    let upstream = private_loopback();
    const NAME: &str = "only-the-host-knows.berth.test";
    let resolver = FakeResolver::start(&format!("{upstream}:53"), NAME, [198, 51, 100, 78]);
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let conf = conf_dir.path().join("resolv.conf");
    std::fs::write(&conf, format!("nameserver {upstream}\nsearch hosts.berth.test\noptions edns0\n")).expect("write resolv.conf");
    let d = Daemon::start_with_host_dns(HostDns { resolv_conf: conf, resolved_upstreams: None }, &[]);
    let c = Client::Docker;
    d.busybox(c, "busybox");
    d.ok(c, &["network", "create", "hostdns"]);

    // No --dns: the embedded server is the nameserver, the host's search and options are kept,
    // and a name only the host's resolver knows resolves, asked by the daemon from loopback.
    let out = d.ok(c, &["run", "--rm", "--network", "hostdns", "busybox", "sh", "-c", &format!("cat /etc/resolv.conf; nslookup {NAME}")]);
    let embedded = gateway(&d, "hostdns");
    assert!(out.starts_with(&format!("nameserver {embedded}\nsearch hosts.berth.test\noptions edns0 ndots:0\n")), "{out}");
    assert!(out.contains("198.51.100.78"), "the host resolver's answer came back: {out}");
    let asked = resolver.asked_by();
    assert!(!asked.is_empty() && asked.iter().all(|ip| ip.is_loopback()), "forwarded by the daemon over loopback: {asked:?}");
    // Names the host's resolver does not know come back NXDOMAIN, not SERVFAIL.
    let out = d.run(c, &["run", "--rm", "--network", "hostdns", "busybox", "nslookup", "nobody.berth.test"]);
    assert!(!out.status.success() && stdout(&out).contains("NXDOMAIN"), "{}{}", stdout(&out), stderr(&out));

    // The default bridge has no embedded server: a loopback resolver is useless there, so the
    // container gets Docker's public fallback, with the host's search domains.
    let out = d.ok(c, &["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(!out.contains("nameserver 127.") && out.contains("nameserver 8.8.8.8") && out.contains("search hosts.berth.test"), "{out}");

    d.ok(c, &["network", "rm", "hostdns"]);
    drop(resolver);
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn a_systemd_resolved_stub_gives_default_bridge_containers_its_upstreams() {
    // The host's resolv.conf names only systemd-resolved's stub, which no container can reach;
    // resolved lists its real upstreams in /run/systemd/resolve/resolv.conf, which containers
    // that ask resolvers themselves get instead, as with Docker.
    let files = tempfile::tempdir().expect("tempdir");
    let (stub, real) = (files.path().join("resolv.conf"), files.path().join("resolved.conf"));
    std::fs::write(&stub, "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch stub.berth.test\n").expect("write");
    std::fs::write(&real, "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch real.berth.test\n").expect("write");
    let d = Daemon::start_with_host_dns(HostDns { resolv_conf: stub, resolved_upstreams: Some(real) }, &[]);
    let c = Client::Docker;
    d.busybox(c, "busybox");
    let out = d.ok(c, &["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert_eq!(out, "nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch real.berth.test\n");
    // --dns still wins.
    let out = d.ok(c, &["run", "--rm", "--dns", "192.0.2.99", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(out.starts_with("nameserver 192.0.2.99\n") && !out.contains("192.0.2.53"), "{out}");
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn icc_disabled_isolates_containers_but_not_the_gateway() {
    let d = Daemon::start();
    let c = Client::Docker;
    d.busybox(c, "busybox");
    d.ok(c, &["network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "quiet"]);
    let opts = d.ok(c, &["network", "inspect", "-f", "{{index .Options \"com.docker.network.bridge.enable_icc\"}}", "quiet"]);
    assert_eq!(opts.trim(), "false");
    let port = free_port();
    d.ok(c, &["run", "-d", "--name", "web", "--network", "quiet", "-p", &format!("{port}:8080"), "busybox", "sh", "-c", WEB]);
    d.ok(c, &["run", "-d", "--name", "client", "--network", "quiet", "busybox", "sleep", "1000"]);
    let id = d.ok(c, &["inspect", "-f", "{{.Id}}", "web"]).trim()[..12].to_string();
    let web_ip = inspect(&d, c, "{{.NetworkSettings.Networks.quiet.IPAddress}}", "web");
    let gw = gateway(&d, "quiet");
    let want = format!("hello-{id}");
    assert_eq!(curl_until(&format!("http://127.0.0.1:{port}/")).trim(), want, "the host reaches it through the proxy");
    assert_eq!(curl_until(&format!("http://{gw}:{port}/")).trim(), want, "and through DNAT");

    // The bridge-family table drops IP between the two containers' veths.
    let bridge = d.ok(c, &["network", "inspect", "-f", "{{index .Options \"com.docker.network.bridge.name\"}}", "quiet"]);
    let veths = d.veths();
    let out = std::process::Command::new("nft").args(["list", "table", "bridge", &format!("berth-{}", d.bridge)]).output().expect("nft");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(veths.len() == 2 && veths.iter().all(|v| table.contains(&format!("\"{v}\""))) && table.contains("drop"), "{veths:?} {bridge}\n{table}");

    let sh = |cmd: &str| d.run(c, &["exec", "client", "sh", "-c", &format!("{cmd}; exit $?")]).status.success();
    // Names still resolve (the embedded DNS is on the gateway) ...
    assert!(d.ok(c, &["exec", "client", "nslookup", "web"]).contains(&web_ip));
    // ... but the other container cannot be reached, by name or address ...
    assert!(!sh("timeout 3 wget -qO- http://web:8080/"), "icc=false let client reach web");
    assert!(!sh(&format!("ping -c 1 -W 2 {web_ip}")), "icc=false let client ping web");
    // ... while the gateway and the published port through a host address still answer, as
    // with Docker.
    assert!(sh(&format!("ping -c 1 -W 2 {gw}")), "the gateway must stay reachable");
    assert_eq!(d.ok(c, &["exec", "client", "wget", "-qO-", &format!("http://{gw}:{port}/")]).trim(), want);

    d.ok(c, &["rm", "-f", "web", "client"]);
    d.ok(c, &["network", "rm", "quiet"]);
    let out = std::process::Command::new("nft").args(["list", "table", "bridge", &format!("berth-{}", d.bridge)]).output().expect("nft");
    assert!(!out.status.success(), "the bridge table went with the last isolated containers: {}", String::from_utf8_lossy(&out.stdout));
    d.assert_no_leaks_after_cleanup();
}
