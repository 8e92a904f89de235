//! The answers: from flags alone, or asked one by one at a terminal.

use super::*;

/// The answers from flags and defaults alone.
pub(super) fn from_flags(args: &NewArgs) -> anyhow::Result<Answers> {
    let participant = args.participant.unwrap_or(Participant::Microengine);
    let name = check_name(args.name.as_deref().unwrap_or("MyEngine"))?;
    let slug = match &args.slug {
        Some(s) => check_slug("--slug", s)?,
        None => check_slug("the engine name's slug", &slugify(&name))?,
    };
    let project_slug = match &args.project_slug {
        Some(s) => check_project_slug(s)?,
        None => check_project_slug(&format!("{}-{slug}", participant.as_str()))?,
    };
    let org = check_text("organization", args.org.as_deref().unwrap_or("ACME"))?;
    let org_slug = match &args.org_slug {
        Some(s) => check_slug("--org-slug", s)?,
        None => check_slug("the organization's slug", &slugify(&org))?,
    };
    let package_slug = match &args.package_slug {
        Some(s) => check_package_slug(s)?,
        None => check_package_slug(&format!("{org_slug}_{slug}"))?,
    };
    let author = check_text(
        "author name",
        args.author.as_deref().unwrap_or("Swarm Developer"),
    )?;
    let email = check_email(args.email.as_deref().unwrap_or("developer@example.com"))?;
    Ok(Answers {
        participant,
        name,
        slug,
        project_slug,
        org,
        org_slug,
        package_slug,
        author,
        email,
        artifacts: args.artifacts.unwrap_or(Artifacts::Files),
        has_backend: args.has_backend.unwrap_or(false),
        scan_mode: args.scan_mode.unwrap_or(ScanMode::Async),
    })
}

/// The answers from prompts, for every question no flag answered; each
/// prompt's default is the template's.
pub(super) fn ask(args: &NewArgs) -> anyhow::Result<Answers> {
    use dialoguer::{Confirm, Input, Select};

    let participant = match args.participant {
        Some(p) => p,
        None => {
            let labels: Vec<&str> = Participant::ALL.iter().map(|p| p.as_str()).collect();
            let i = Select::new()
                .with_prompt("participant_type")
                .items(&labels)
                .default(0)
                .interact()?;
            Participant::ALL[i]
        }
    };
    let text = |prompt: &str,
                given: &Option<String>,
                default: String,
                check: &dyn Fn(&str) -> anyhow::Result<String>|
     -> anyhow::Result<String> {
        if let Some(value) = given {
            return check(value);
        }
        let value: String = Input::new()
            .with_prompt(prompt)
            .default(default)
            .validate_with(|v: &String| check(v).map(drop).map_err(|e| e.to_string()))
            .interact_text()?;
        check(&value)
    };
    let name = text(
        "engine_name",
        &args.name,
        "MyEngine".to_owned(),
        &check_name,
    )?;
    let slug = text("engine_name_slug", &args.slug, slugify(&name), &|s| {
        check_slug("the slug", s)
    })?;
    let project_slug = text(
        "project_slug",
        &args.project_slug,
        format!("{}-{slug}", participant.as_str()),
        &check_project_slug,
    )?;
    let org = text("author_org", &args.org, "ACME".to_owned(), &|s| {
        check_text("organization", s)
    })?;
    let org_slug = text("author_org_slug", &args.org_slug, slugify(&org), &|s| {
        check_slug("the organization's slug", s)
    })?;
    let package_slug = text(
        "package_slug",
        &args.package_slug,
        format!("{org_slug}_{slug}"),
        &check_package_slug,
    )?;
    let author = text(
        "author_name",
        &args.author,
        "Swarm Developer".to_owned(),
        &|s| check_text("author name", s),
    )?;
    let email = text(
        "author_email",
        &args.email,
        "developer@example.com".to_owned(),
        &check_email,
    )?;
    let artifacts = match args.artifacts {
        Some(a) => a,
        None => {
            let labels: Vec<&str> = Artifacts::ALL.iter().map(|a| a.label()).collect();
            let i = Select::new()
                .with_prompt("supports (artifact types)")
                .items(&labels)
                .default(0)
                .interact()?;
            Artifacts::ALL[i]
        }
    };
    let has_backend = match args.has_backend {
        Some(b) => b,
        None => Confirm::new()
            .with_prompt("has_backend (does the scanning run in a separate process or service?)")
            .default(false)
            .interact()?,
    };
    let scan_mode = match (args.scan_mode, participant) {
        (Some(m), _) => m,
        (None, Participant::Microengine) => {
            let labels: Vec<&str> = ScanMode::ALL.iter().map(|m| m.as_str()).collect();
            let i = Select::new()
                .with_prompt("scan_mode (async: waits on I/O; blocking: CPU-bound)")
                .items(&labels)
                .default(0)
                .interact()?;
            ScanMode::ALL[i]
        }
        (None, _) => ScanMode::Async,
    };
    Ok(Answers {
        participant,
        name,
        slug,
        project_slug,
        org,
        org_slug,
        package_slug,
        author,
        email,
        artifacts,
        has_backend,
        scan_mode,
    })
}
