//! Role gates: what only staff, only admins or only customers do. The rule
//! and its reason are the database's (`pgchat.gate`, sql/41_role_gates.sql:
//! `staff_only`, `admins_only`, `customers_only`); an operation names its
//! gate and passes it first, in its transaction, before anything is looked
//! up, so the refusal is the same for every id and reveals nothing.

use crate::db::Transaction;
use crate::error::ApiError;

/// An action behind a role gate (a row of `pgchat.gate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Reading the desk, joining it (staff).
    Desk,
    /// Enrolling, changing or removing another agent (admins).
    ManageAgents,
    /// Setting an agent's skills or enablement (admins).
    AgentSettings,
    /// Canned responses (staff).
    Canned,
    /// Claiming a support session (staff).
    ClaimSession,
    /// Opening a support session (customers).
    OpenSession,
    /// Assigning or transferring a support session (staff).
    AssignSession,
    /// The desk's dashboard (admins).
    Dashboard,
    /// The audit trail of deletions (admins).
    Audit,
    /// The desk's settings, email templates and webhook status (admins).
    Settings,
    /// A conversation's summary by the assistant (staff).
    Summarize,
    /// A support session's sentiment (staff).
    Sentiment,
    /// The moderation word lists and patterns (admins).
    ModerationLists,
    /// Changing a support session's details, labels or agent (staff; which
    /// sessions: `pgchat.may_change_session`).
    ChangeSession,
    /// Reading the teams (staff).
    Teams,
    /// Making, changing and deleting teams and their membership (admins).
    ManageTeams,
    /// Another user's contact details (staff).
    Contacts,
    /// Reading and setting business hours (admins).
    BusinessHours,
}

impl Gate {
    fn name(self) -> &'static str {
        match self {
            Self::Desk => "desk",
            Self::ManageAgents => "manage_agents",
            Self::AgentSettings => "agent_settings",
            Self::Canned => "canned",
            Self::ClaimSession => "claim_session",
            Self::OpenSession => "open_session",
            Self::AssignSession => "assign_session",
            Self::Dashboard => "dashboard",
            Self::Audit => "audit",
            Self::Settings => "settings",
            Self::Summarize => "summarize",
            Self::Sentiment => "sentiment",
            Self::ModerationLists => "moderation_lists",
            Self::ChangeSession => "change_session",
            Self::Teams => "teams",
            Self::ManageTeams => "manage_teams",
            Self::Contacts => "contacts",
            Self::BusinessHours => "business_hours",
        }
    }
}

/// Passes `gate` as the transaction's caller, or says why not.
pub async fn pass(tx: &Transaction<'_>, gate: Gate) -> Result<(), ApiError> {
    let statement = tx.prepare_cached("SELECT pgchat.gate($1)").await?;
    tx.execute(&statement, &[&gate.name()]).await?;
    Ok(())
}
