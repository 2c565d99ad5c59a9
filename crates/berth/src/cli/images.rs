//! Image verbs: the `image` group and the top-level shortcuts (`images`, `rmi`, `tag`,
//! `history`, ...), with docker's image list rows.

use std::collections::BTreeMap;

use berth_api::client::query;
use berth_api::types::{HistoryItem, ImageDeleteItem, ImageSummary};
use berth_image::Reference;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::error::{CliError, Result};
use super::format::{ago, ellipsis, go_time, human_size_prec, trunc_id};
use super::{build, finish, image_io, inspect, listing, prune, ps, registry, Ctx};

/// Image verbs available both at the top level and under `image`.
#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image_io::ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(image_io::LoadArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image_io::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
}

/// Top-level only: `images` and `rmi`.
#[derive(Subcommand, Debug)]
pub enum ImageShortcut {
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
}

/// `berth image ...`.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum ImageGroup {
    #[command(flatten)]
    Shared(ImageCmd),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(inspect::TypedInspectArgs),
    /// Remove unused images
    Prune(prune::ImagePruneArgs),
}

/// `images`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth images [OPTIONS] [REPOSITORY[:TAG]]")]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string", default_value = "")]
    pub format: String,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Repository to list
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `rmi`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth rmi [OPTIONS] IMAGE [IMAGE...]")]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// Images
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `tag`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
pub struct TagArgs {
    /// Source image
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// Target image
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

/// `history`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth history [OPTIONS] IMAGE")]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string", default_value = "")]
    pub format: String,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", value_name = "bool", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Show history for the given platform
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// The image
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// Runs a shared image verb.
pub async fn dispatch(ctx: &Ctx, cmd: ImageCmd) -> i32 {
    match cmd {
        ImageCmd::Build(a) => finish(build::run(ctx, a).await, 1),
        ImageCmd::History(a) => finish(history(ctx, a).await, 1),
        ImageCmd::Import(a) => finish(image_io::import(ctx, a).await, 1),
        ImageCmd::Load(a) => finish(image_io::load(ctx, a).await, 1),
        ImageCmd::Pull(a) => finish(registry::pull(ctx, a).await, 1),
        ImageCmd::Push(a) => finish(registry::push(ctx, a).await, 1),
        ImageCmd::Save(a) => finish(image_io::save(ctx, a).await, 1),
        ImageCmd::Tag(a) => finish(tag(ctx, a).await, 1),
    }
}

/// Runs `images` or `rmi`.
pub async fn dispatch_shortcut(ctx: &Ctx, cmd: ImageShortcut) -> i32 {
    match cmd {
        ImageShortcut::Images(a) => finish(images(ctx, a).await, 1),
        ImageShortcut::Rmi(a) => finish(rmi(ctx, a).await, 1),
    }
}

/// Runs an `image` subcommand.
pub async fn dispatch_group(ctx: &Ctx, g: ImageGroup) -> i32 {
    match g {
        ImageGroup::Shared(c) => dispatch(ctx, c).await,
        ImageGroup::Ls(a) => finish(images(ctx, a).await, 1),
        ImageGroup::Rm(a) => finish(rmi(ctx, a).await, 1),
        ImageGroup::Inspect(a) => finish(inspect::run_typed(ctx, a, "image").await, 1),
        ImageGroup::Prune(a) => finish(prune::images(ctx, a).await, 1),
    }
}

fn familiar_name(reference: &str) -> Option<(String, Reference)> {
    let r = Reference::parse(reference).ok()?;
    Some((r.familiar_repository(), r))
}

/// The `(repository, tag, digest)` rows docker shows for one image.
pub fn image_rows(img: &ImageSummary, digests: bool) -> Vec<(String, String, String)> {
    let none = || "<none>".to_string();
    let dangling = (img.repo_tags.is_empty() && img.repo_digests.is_empty()) || (img.repo_tags == ["<none>:<none>"] && img.repo_digests == ["<none>@<none>"]);
    if dangling {
        return vec![(none(), none(), none())];
    }
    let mut tags: Vec<(String, Vec<String>)> = Vec::new();
    for t in &img.repo_tags {
        if let Some((repo, r)) = familiar_name(t) {
            let Some(tag) = r.tag else { continue };
            match tags.iter_mut().find(|(n, _)| *n == repo) {
                Some((_, v)) => v.push(tag),
                None => tags.push((repo, vec![tag])),
            }
        }
    }
    let mut by_repo: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &img.repo_digests {
        if let Some((repo, r)) = familiar_name(d) {
            if let Some(digest) = r.digest {
                by_repo.entry(repo).or_default().push(digest);
            }
        }
    }
    let mut rows = Vec::new();
    for (repo, repo_tags) in tags {
        let ds = by_repo.remove(&repo).filter(|_| digests).unwrap_or_default();
        for tag in repo_tags {
            if ds.is_empty() {
                rows.push((repo.clone(), tag, none()));
            } else {
                rows.extend(ds.iter().map(|d| (repo.clone(), tag.clone(), d.clone())));
            }
        }
    }
    for (repo, ds) in by_repo {
        if digests {
            rows.extend(ds.into_iter().map(|d| (repo.clone(), none(), d)));
        } else {
            rows.push((repo, none(), none()));
        }
    }
    rows
}

fn image_row(img: &ImageSummary, repo: &str, tag: &str, digest: &str, trunc: bool) -> Value {
    let na = |n: i64, f: &dyn Fn(i64) -> String| if n < 0 { "N/A".to_string() } else { f(n) };
    json!({
        "ID": if trunc { trunc_id(&img.id) } else { img.id.clone() },
        "Repository": repo,
        "Tag": tag,
        "Digest": digest,
        "CreatedSince": if img.created == 0 { "N/A".to_string() } else { ago(img.created) },
        "CreatedAt": go_time(img.created),
        "Size": human_size_prec(img.size as f64, 3),
        "Containers": na(img.containers, &|n| n.to_string()),
        "VirtualSize": super::format::human_size(img.size as f64),
        "SharedSize": na(img.shared_size, &|n| human_size_prec(n as f64, 3)),
        "UniqueSize": na(img.shared_size, &|n| human_size_prec((img.size - n) as f64, 3)),
    })
}

fn images_header() -> Value {
    listing::header(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "VIRTUAL SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
    ])
}

/// `berth images`.
pub async fn images(ctx: &Ctx, a: ImagesArgs) -> Result<i32> {
    let mut filters = ps::parse_filters(&a.filter)?;
    if let Some(r) = &a.reference {
        filters.add("reference", r);
    }
    let q =
        query(&[("all", if a.all { "1".into() } else { String::new() }), ("filters", if filters.0.is_empty() { String::new() } else { filters.to_json() })]);
    let list: Vec<ImageSummary> = ctx.get(&format!("/images/json{q}")).await?;
    let digests = a.digests || a.format.contains(".Digest");
    let rows: Vec<Value> =
        list.iter().flat_map(|img| image_rows(img, digests).into_iter().map(move |(r, t, d)| image_row(img, &r, &t, &d, !a.no_trunc))).collect();
    let table = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = if a.quiet { "{{.ID}}".to_string() } else { a.format.clone() };
    print!("{}", listing::render(&format, table, &images_header(), &rows)?);
    Ok(0)
}

/// `berth rmi`.
pub async fn rmi(ctx: &Ctx, a: RmiArgs) -> Result<i32> {
    let b = |on: bool| if on { "1".to_string() } else { String::new() };
    let q = query(&[("force", b(a.force)), ("noprune", b(a.no_prune))]);
    let mut errors = Vec::new();
    for img in &a.images {
        match ctx
            .client
            .delete::<serde_json::Value>(&format!("/images/{img}{q}"))
            .await
            .map_err(CliError::from)
            .and_then(super::lenient::<Vec<ImageDeleteItem>>)
        {
            Ok(items) => {
                for item in items {
                    if let Some(u) = item.untagged {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.deleted {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

/// `berth tag`.
pub async fn tag(ctx: &Ctx, a: TagArgs) -> Result<i32> {
    let target =
        Reference::parse(&a.target).map_err(|e| CliError::msg(format!("Error parsing reference: \"{}\" is not a valid repository/tag: {e}", a.target)))?;
    if target.digest.is_some() {
        return Err(CliError::msg("refusing to create a tag with a digest reference"));
    }
    let tag = target.tag.clone().unwrap_or_else(|| "latest".into());
    let path = format!("/images/{}/tag{}", a.source, query(&[("repo", target.repository()), ("tag", tag)]));
    ctx.client.post_status(&path, None::<&()>).await?;
    Ok(0)
}

/// `berth history`.
pub async fn history(ctx: &Ctx, a: HistoryArgs) -> Result<i32> {
    let q = query(&[("platform", a.platform.clone().unwrap_or_default())]);
    let items: Vec<HistoryItem> = ctx.get(&format!("/images/{}/history{q}", a.image)).await?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let created_by = h.created_by.replace('\t', " ");
            json!({
                "ID": if h.id == "<missing>" || !trunc { h.id.clone() } else { trunc_id(&h.id) },
                "CreatedSince": if a.human { ago(h.created) } else { chrono::DateTime::from_timestamp(h.created, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default() },
                "CreatedAt": go_time(h.created),
                "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
                "Size": if a.human { human_size_prec(h.size as f64, 3) } else { h.size.to_string() },
                "Comment": h.comment,
                "Tags": h.tags.join(", "),
            })
        })
        .collect();
    let header = listing::header(&[
        ("ID", "IMAGE"),
        ("CreatedSince", if a.human { "CREATED" } else { "CREATED AT" }),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
        ("Tags", "TAGS"),
    ]);
    let format = if a.quiet { "{{.ID}}".to_string() } else { a.format.clone() };
    let table = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    print!("{}", listing::render(&format, table, &header, &rows)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_tag_and_digest() {
        let img = ImageSummary {
            id: "sha256:0123456789abcdef".into(),
            repo_tags: vec!["busybox:latest".into(), "busybox:1".into(), "localhost:5000/x:y".into()],
            repo_digests: vec!["busybox@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into()],
            ..Default::default()
        };
        let rows = image_rows(&img, false);
        assert_eq!(rows[0], ("busybox".into(), "latest".into(), "<none>".into()));
        assert_eq!(rows[1].1, "1");
        assert_eq!(rows[2].0, "localhost:5000/x");
        assert_eq!(rows.len(), 3);
        let with = image_rows(&img, true);
        assert!(with[0].2.starts_with("sha256:aaaa"));
        let dangling = ImageSummary::default();
        assert_eq!(image_rows(&dangling, false), vec![("<none>".into(), "<none>".into(), "<none>".into())]);
    }

    #[test]
    fn table_like_docker() {
        let img =
            ImageSummary { id: "sha256:0123456789abcdef".into(), repo_tags: vec!["busybox:latest".into()], size: 4_264_000, created: 0, ..Default::default() };
        let rows: Vec<Value> = image_rows(&img, false).iter().map(|(r, t, d)| image_row(&img, r, t, d, true)).collect();
        let out = listing::render("", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}", &images_header(), &rows).unwrap_or_default();
        assert_eq!(out, "REPOSITORY   TAG       IMAGE ID       CREATED   SIZE\nbusybox      latest    0123456789ab   N/A       4.26MB\n");
    }
}
