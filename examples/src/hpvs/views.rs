//! What `hpvs` prints for each answer: the appliance's resources as tables, in the HPVS
//! 1.2.x CLI's layout (`PROPERTIES | VALUES` for one resource, an upper-case header for a
//! list). Secrets never appear: a registry shows whether a password is stored, not which.

use hpvs_api::wire::{
    Image, Mount, PortMapping, Protocol, Quotagroup, Registry, Repository, RepositoryDeleted,
    ServerState, VirtualServer, format_size,
};

use super::table::Table;

/// What a cell shows for an empty list or an absent value.
const NONE: &str = "-";

/// `vs create` / `vs show`.
pub fn virtual_server(server: &VirtualServer) -> Table {
    let mut table = Table::properties();
    table
        .property("Name", &server.name)
        .property("CPU", server.cpu)
        .property("Memory", server.ram)
        .property("State", server.state)
        .property("Status", status(server))
        // The API reports no networks (the emulator gives each server its own namespace,
        // reached only through its forwarded ports).
        .property("Networks", NONE)
        .property("Ports", ports(&server.ports))
        .property("Quotagroups", mounts(&server.quotagroups))
        .property("Repository", format!("{}:{}", server.repo, server.tag))
        .property("Image", server.digest.as_deref().unwrap_or(NONE));
    table
}

/// `vs list`.
pub fn virtual_servers(servers: &[VirtualServer]) -> Table {
    let mut table = Table::new(["NAME", "REPOSITORY", "TAG", "STATE", "STATUS", "PORTS"]);
    for server in servers {
        table.row([
            server.name.clone(),
            server.repo.clone(),
            server.tag.clone(),
            server.state.to_string(),
            status(server),
            ports(&server.ports),
        ]);
    }
    table
}

/// The Status cell: `Up` (since when) for a running server, the failure reason for a failed
/// one, the running step while creating.
pub fn status(server: &VirtualServer) -> String {
    let reason = server.reason.as_deref();
    match server.state {
        ServerState::Running => match &server.started_at {
            Some(started) => format!("Up since {started}"),
            None => "Up".to_owned(),
        },
        ServerState::Creating => match reason {
            Some(step) => format!("Creating: {step}"),
            None => "Creating".to_owned(),
        },
        ServerState::Stopped => "Stopped".to_owned(),
        ServerState::Failed => reason.unwrap_or("Failed").to_owned(),
    }
}

/// One `30000->443/tcp` line per mapping.
pub fn ports(ports: &[PortMapping]) -> String {
    lines(ports.iter().map(|port| {
        // `Protocol` has no `Display`; its one value is written as on the wire.
        let protocol = match port.protocol {
            Protocol::Tcp => "tcp",
        };
        format!("{}->{}/{protocol}", port.hostport, port.containerport)
    }))
}

/// One `quotagroup/mountid on /mount (filesystem, size)` line per mount.
pub fn mounts(mounts: &[Mount]) -> String {
    lines(mounts.iter().map(|mount| {
        let reset = if mount.reset_root { ", reset_root" } else { "" };
        format!(
            "{}/{} on {} ({}, {}{reset})",
            mount.quotagroup,
            mount.mountid,
            mount.mount,
            mount.filesystem,
            format_size(mount.size)
        )
    }))
}

/// `quotagroup create` / `quotagroup show`.
pub fn quotagroup(quotagroup: &Quotagroup) -> Table {
    let mut table = Table::properties();
    table
        .property("Name", &quotagroup.name)
        .property("Filesystem", quotagroup.filesystem)
        .property("Passthrough", quotagroup.passthrough)
        .property("PoolID", &quotagroup.pool_id)
        .property("Size", format_size(quotagroup.size))
        .property("Containers", joined(&quotagroup.containers))
        .property("Available", format_size(quotagroup.available));
    table
}

/// `quotagroup list`.
pub fn quotagroups(quotagroups: &[Quotagroup]) -> Table {
    let mut table = Table::new([
        "NAME",
        "FILESYSTEM",
        "PASSTHROUGH",
        "POOLID",
        "SIZE",
        "CONTAINERS",
        "AVAILABLE",
    ]);
    for q in quotagroups {
        table.row([
            q.name.clone(),
            q.filesystem.to_string(),
            q.passthrough.to_string(),
            q.pool_id.clone(),
            format_size(q.size),
            joined(&q.containers),
            format_size(q.available),
        ]);
    }
    table
}

/// `registry add` / `registry show`: never the password, only whether one is stored.
pub fn registry(registry: &Registry) -> Table {
    let mut table = Table::properties();
    table
        .property("Name", &registry.name)
        .property("URL", &registry.url)
        .property("DCT", &registry.dct)
        .property("User", or_none(&registry.user))
        .property("Password", password_note(registry));
    table
}

/// `registry list`.
pub fn registries(registries: &[Registry]) -> Table {
    let mut table = Table::new(["NAME", "URL", "DCT", "USER", "PASSWORD"]);
    for r in registries {
        table.row([
            r.name.clone(),
            r.url.clone(),
            r.dct.clone(),
            or_none(&r.user).to_owned(),
            password_note(r).to_owned(),
        ]);
    }
    table
}

/// `repository register` / `repository show`.
pub fn repository(repository: &Repository) -> Table {
    let mut table = Table::properties();
    table
        .property("ID", &repository.id)
        .property("Repository name", &repository.repository_name)
        .property("Runtime", &repository.runtime)
        .property("Root key ID", &repository.root_key_id)
        .property("Vendor key", &repository.vendor_fingerprint)
        .property("Env whitelist", joined(&repository.envs_whitelist))
        .property("Cap add", joined(&repository.cap_add))
        .property("Servers", joined(&repository.servers));
    table
}

/// `repository list`.
pub fn repositories(repositories: &[Repository]) -> Table {
    let mut table = Table::new(["ID", "REPOSITORY NAME", "RUNTIME", "SERVERS"]);
    for r in repositories {
        table.row([
            r.id.clone(),
            r.repository_name.clone(),
            r.runtime.clone(),
            joined(&r.servers),
        ]);
    }
    table
}

/// `repository delete`: one line for the repository and one per server and image that went
/// with it.
pub fn repository_deleted(deleted: &RepositoryDeleted) -> Vec<String> {
    let mut lines = vec![format!("Deleted repository {}", deleted.id)];
    lines.extend(
        deleted
            .servers
            .iter()
            .map(|name| format!("Deleted virtual server {name}")),
    );
    lines.extend(
        deleted
            .images
            .iter()
            .map(|digest| format!("Deleted image {digest}")),
    );
    lines
}

/// `image list`.
pub fn images(images: &[Image]) -> Table {
    let mut table = Table::new(["DIGEST", "REPOSITORY", "IMAGE", "SIZE", "SERVERS"]);
    for image in images {
        table.row([
            image.digest.clone(),
            image.repo.clone(),
            image.repository_name.clone(),
            format_size(image.size),
            joined(&image.servers),
        ]);
    }
    table
}

fn password_note(registry: &Registry) -> &'static str {
    if registry.has_password {
        "(stored)"
    } else {
        NONE
    }
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { NONE } else { text }
}

fn joined(items: &[String]) -> String {
    if items.is_empty() {
        NONE.to_owned()
    } else {
        items.join(", ")
    }
}

fn lines(items: impl Iterator<Item = String>) -> String {
    let text = items.collect::<Vec<_>>().join("\n");
    if text.is_empty() {
        NONE.to_owned()
    } else {
        text
    }
}

#[cfg(test)]
#[path = "views_tests.rs"]
mod tests;
