//! The permission table: one place that decides what a role may do to what, used by the token
//! service, the REST API and (later) the portal alike. Role ids and the matrix are Harbor's
//! (`docs/permissions.md` is generated from [`MATRIX`] and checked by a test).

/// An action on a repository, as named in registry token scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    /// The table entry a registry action stands for.
    pub fn permission(self) -> (Resource, Operation) {
        match self {
            Action::Pull => (Resource::Repository, Operation::Pull),
            Action::Push => (Resource::Repository, Operation::Push),
            Action::Delete => (Resource::Repository, Operation::Delete),
        }
    }
}

/// A member's role in a project, with Harbor's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectRole {
    ProjectAdmin = 1,
    Developer = 2,
    Guest = 3,
    Maintainer = 4,
    LimitedGuest = 5,
}

impl ProjectRole {
    /// In the matrix's column order: most powerful first.
    pub const ALL: [ProjectRole; 5] = [
        ProjectRole::ProjectAdmin,
        ProjectRole::Maintainer,
        ProjectRole::Developer,
        ProjectRole::Guest,
        ProjectRole::LimitedGuest,
    ];

    pub fn from_id(id: u8) -> Option<ProjectRole> {
        match id {
            1 => Some(ProjectRole::ProjectAdmin),
            2 => Some(ProjectRole::Developer),
            3 => Some(ProjectRole::Guest),
            4 => Some(ProjectRole::Maintainer),
            5 => Some(ProjectRole::LimitedGuest),
            _ => None,
        }
    }

    pub fn id(self) -> u8 {
        self as u8
    }

    /// The most powerful of several roles (a user's own and their groups'), as Harbor does.
    pub fn strongest(ids: &[u8]) -> Option<ProjectRole> {
        ids.iter()
            .filter_map(|id| ProjectRole::from_id(*id))
            .min_by_key(|r| r.column())
    }

    /// Harbor's role names, as the members API reports them.
    pub fn name(self) -> &'static str {
        match self {
            ProjectRole::ProjectAdmin => "projectAdmin",
            ProjectRole::Developer => "developer",
            ProjectRole::Guest => "guest",
            ProjectRole::Maintainer => "maintainer",
            ProjectRole::LimitedGuest => "limitedGuest",
        }
    }

    fn column(self) -> usize {
        ProjectRole::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(ProjectRole::ALL.len())
    }
}

/// What inside a project a permission is about (Harbor's `rbac.Resource` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Project,
    Member,
    Log,
    Repository,
    Artifact,
    Tag,
    Robot,
    Quota,
    TagRetention,
    ImmutableTag,
    // System level (Harbor's `/system` namespace).
    AuditLog,
    User,
    UserGroup,
    LdapUser,
    Configuration,
    SystemVolumes,
    GarbageCollection,
    Registry,
    ReplicationPolicy,
    Replication,
    ReplicationAdapter,
    /// Berth's: the Prometheus metrics on the main listeners.
    Metrics,
}

impl Resource {
    const ALL: [Resource; 22] = [
        Resource::Project,
        Resource::Member,
        Resource::Log,
        Resource::Repository,
        Resource::Artifact,
        Resource::Tag,
        Resource::Robot,
        Resource::Quota,
        Resource::TagRetention,
        Resource::ImmutableTag,
        Resource::AuditLog,
        Resource::User,
        Resource::UserGroup,
        Resource::LdapUser,
        Resource::Configuration,
        Resource::SystemVolumes,
        Resource::GarbageCollection,
        Resource::Registry,
        Resource::ReplicationPolicy,
        Resource::Replication,
        Resource::ReplicationAdapter,
        Resource::Metrics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Project => "project",
            Resource::Member => "member",
            Resource::Log => "log",
            Resource::Repository => "repository",
            Resource::Artifact => "artifact",
            Resource::Tag => "tag",
            Resource::Robot => "robot",
            Resource::Quota => "quota",
            Resource::TagRetention => "tag-retention",
            Resource::ImmutableTag => "immutable-tag",
            Resource::AuditLog => "audit-log",
            Resource::User => "user",
            Resource::UserGroup => "user-group",
            Resource::LdapUser => "ldap-user",
            Resource::Configuration => "configuration",
            Resource::SystemVolumes => "system-volumes",
            Resource::GarbageCollection => "garbage-collection",
            Resource::Registry => "registry",
            Resource::ReplicationPolicy => "replication-policy",
            Resource::Replication => "replication",
            Resource::ReplicationAdapter => "replication-adapter",
            Resource::Metrics => "metrics",
        }
    }

    pub fn parse(s: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read,
    List,
    Create,
    Update,
    Delete,
    Pull,
    Push,
    Stop,
    /// Running a job by hand (a retention policy's run or dry run).
    Operate,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Pull => "pull",
            Operation::Push => "push",
            Operation::Stop => "stop",
            Operation::Operate => "operate",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        [
            Operation::Read,
            Operation::List,
            Operation::Create,
            Operation::Update,
            Operation::Delete,
            Operation::Pull,
            Operation::Push,
            Operation::Stop,
            Operation::Operate,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

use Operation as O;
use Resource as R;

/// Resource, operation, and whether each role has it, in [`ProjectRole::ALL`] order:
/// project admin, maintainer, developer, guest, limited guest.
pub const MATRIX: &[(Resource, Operation, [bool; 5])] = &[
    (R::Project, O::Read, [true, true, true, true, true]),
    (R::Project, O::Update, [true, false, false, false, false]),
    (R::Project, O::Delete, [true, false, false, false, false]),
    (R::Member, O::Read, [true, true, true, true, false]),
    (R::Member, O::List, [true, true, true, true, false]),
    (R::Member, O::Create, [true, false, false, false, false]),
    (R::Member, O::Update, [true, false, false, false, false]),
    (R::Member, O::Delete, [true, false, false, false, false]),
    (R::Log, O::List, [true, false, false, false, false]),
    (R::Quota, O::Read, [true, true, true, true, true]),
    (R::Repository, O::Pull, [true, true, true, true, true]),
    (R::Repository, O::List, [true, true, true, true, true]),
    (R::Repository, O::Read, [true, true, true, true, true]),
    (R::Repository, O::Push, [true, true, true, false, false]),
    (R::Repository, O::Create, [true, true, true, false, false]),
    (R::Repository, O::Update, [true, true, true, false, false]),
    (R::Repository, O::Delete, [true, true, false, false, false]),
    (R::Artifact, O::Read, [true, true, true, true, true]),
    (R::Artifact, O::List, [true, true, true, true, true]),
    (R::Artifact, O::Create, [true, true, true, false, false]),
    (R::Artifact, O::Delete, [true, true, false, false, false]),
    (R::Tag, O::List, [true, true, true, true, true]),
    (R::Tag, O::Create, [true, true, true, false, false]),
    (R::Tag, O::Delete, [true, true, false, false, false]),
    (R::Robot, O::Read, [true, true, true, true, false]),
    (R::Robot, O::List, [true, true, true, true, false]),
    (R::Robot, O::Create, [true, false, false, false, false]),
    (R::Robot, O::Update, [true, false, false, false, false]),
    (R::Robot, O::Delete, [true, false, false, false, false]),
    // Harbor lets developers change and run retention too; a retention run deletes artifacts,
    // which developers may not do, so here they only read it.
    (R::TagRetention, O::Read, [true, true, true, false, false]),
    (R::TagRetention, O::List, [true, true, true, false, false]),
    (
        R::TagRetention,
        O::Create,
        [true, true, false, false, false],
    ),
    (
        R::TagRetention,
        O::Update,
        [true, true, false, false, false],
    ),
    (
        R::TagRetention,
        O::Delete,
        [true, true, false, false, false],
    ),
    (
        R::TagRetention,
        O::Operate,
        [true, true, false, false, false],
    ),
    (R::ImmutableTag, O::List, [true, true, false, false, false]),
    (
        R::ImmutableTag,
        O::Create,
        [true, true, false, false, false],
    ),
    (
        R::ImmutableTag,
        O::Update,
        [true, true, false, false, false],
    ),
    (
        R::ImmutableTag,
        O::Delete,
        [true, true, false, false, false],
    ),
];

/// What anyone, signed in or not, may do in a public project they are not a member of.
const PUBLIC: &[(Resource, Operation)] = &[
    (R::Project, O::Read),
    (R::Repository, O::Pull),
    (R::Repository, O::List),
    (R::Repository, O::Read),
    (R::Artifact, O::Read),
    (R::Artifact, O::List),
    (R::Tag, O::List),
];

/// The system level: what a system administrator holds outside any project, and what a system
/// robot may be granted with `{"kind": "system", "namespace": "/"}` (Harbor's names). Nobody
/// else holds any of it; rules for one's own account (reading, changing one's password) and
/// Harbor's `project_creation_restriction` (under which `project:create` is what lets a
/// person create projects; a robot never owns one) live in the services.
pub const SYSTEM: &[(Resource, Operation)] = &[
    (R::AuditLog, O::List),
    (R::Project, O::Create),
    (R::User, O::Read),
    (R::User, O::List),
    (R::User, O::Create),
    (R::User, O::Update),
    (R::User, O::Delete),
    (R::UserGroup, O::Read),
    (R::UserGroup, O::List),
    (R::UserGroup, O::Create),
    (R::UserGroup, O::Update),
    (R::UserGroup, O::Delete),
    (R::LdapUser, O::List),
    (R::LdapUser, O::Create),
    (R::Configuration, O::Read),
    (R::Configuration, O::Update),
    (R::SystemVolumes, O::Read),
    (R::GarbageCollection, O::Read),
    (R::GarbageCollection, O::List),
    (R::GarbageCollection, O::Create),
    (R::GarbageCollection, O::Update),
    (R::GarbageCollection, O::Stop),
    (R::Registry, O::Read),
    (R::Registry, O::List),
    (R::Registry, O::Create),
    (R::Registry, O::Update),
    (R::Registry, O::Delete),
    (R::ReplicationPolicy, O::Read),
    (R::ReplicationPolicy, O::List),
    (R::ReplicationPolicy, O::Create),
    (R::ReplicationPolicy, O::Update),
    (R::ReplicationPolicy, O::Delete),
    (R::Replication, O::Read),
    (R::Replication, O::List),
    (R::Replication, O::Create),
    (R::Replication, O::Stop),
    (R::ReplicationAdapter, O::List),
    (R::Quota, O::Read),
    (R::Quota, O::List),
    (R::Quota, O::Update),
    (R::Metrics, O::Read),
];

/// Everything the decision needs to know about a caller at the system level.
#[derive(Debug, Clone, Default)]
pub struct SystemAccess {
    pub sysadmin: bool,
    /// A robot's system-level grants; a robot has nothing else.
    pub robot: Option<Vec<(Resource, Operation)>>,
}

/// The system-level decision: an entry of [`SYSTEM`], held by system admins and by robots
/// granted it.
pub fn allowed_system(access: &SystemAccess, resource: Resource, operation: Operation) -> bool {
    if !SYSTEM.contains(&(resource, operation)) {
        return false;
    }
    match &access.robot {
        Some(grants) => grants.contains(&(resource, operation)),
        None => access.sysadmin,
    }
}

/// Everything the decision needs to know about a caller and one project.
#[derive(Debug, Clone, Default)]
pub struct ProjectAccess {
    pub sysadmin: bool,
    pub role: Option<ProjectRole>,
    pub public: bool,
    /// A robot's own permission list for this project; a robot has nothing else.
    pub robot: Option<Vec<(Resource, Operation)>>,
}

/// The decision. System admins may do everything; robots exactly what their permission list
/// says; members what their role's column says; anyone may read a public project.
pub fn allowed(access: &ProjectAccess, resource: Resource, operation: Operation) -> bool {
    if access.sysadmin {
        return true;
    }
    if let Some(grants) = &access.robot {
        // A robot may do what it was granted, and what anyone may do in a public project.
        return grants.contains(&(resource, operation))
            || (access.public && PUBLIC.contains(&(resource, operation)));
    }
    let by_role = access.role.is_some_and(|role| {
        MATRIX.iter().any(|(r, o, cols)| {
            *r == resource && *o == operation && cols.get(role.column()).copied().unwrap_or(false)
        })
    });
    by_role || (access.public && PUBLIC.contains(&(resource, operation)))
}

/// Whether the caller may know the project exists: those who may read it, and robots with any
/// grant in it (a robot granted only `repository:pull` still finds its project).
pub fn sees_project(access: &ProjectAccess) -> bool {
    allowed(access, Resource::Project, Operation::Read)
        || access
            .robot
            .as_ref()
            .is_some_and(|grants| !grants.is_empty())
}

/// The registry actions the caller has on the project's repositories.
pub fn repository_actions(access: &ProjectAccess) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| {
            let (r, o) = a.permission();
            allowed(access, r, o)
        })
        .collect()
}

/// The matrix as a Markdown table, for `docs/permissions.md`.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| resource | action | project admin (1) | maintainer (4) | developer (2) | guest (3) | limited guest (5) | public, non-member |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (r, o, cols) in MATRIX {
        let mark = |b: bool| if b { "✓" } else { "–" };
        out.push_str(&format!("| {} | {} |", r.as_str(), o.as_str()));
        for c in cols {
            out.push_str(&format!(" {} |", mark(*c)));
        }
        out.push_str(&format!(" {} |\n", mark(PUBLIC.contains(&(*r, *o)))));
    }
    out
}

/// The system-level table as Markdown, for `docs/permissions.md`.
pub fn system_markdown_table() -> String {
    let mut out = String::from(
        "| system resource | action | system admin | system robot | anyone else |\n\
         |---|---|---|---|---|\n",
    );
    for (r, o) in SYSTEM {
        out.push_str(&format!(
            "| {} | {} | ✓ | if granted | – |\n",
            r.as_str(),
            o.as_str()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn member(role: ProjectRole) -> ProjectAccess {
        ProjectAccess {
            role: Some(role),
            ..Default::default()
        }
    }

    #[test]
    fn registry_actions_by_role() {
        assert_eq!(
            repository_actions(&member(ProjectRole::ProjectAdmin)),
            vec![Pull, Push, Delete]
        );
        assert_eq!(
            repository_actions(&member(ProjectRole::Maintainer)),
            vec![Pull, Push, Delete]
        );
        assert_eq!(
            repository_actions(&member(ProjectRole::Developer)),
            vec![Pull, Push]
        );
        assert_eq!(repository_actions(&member(ProjectRole::Guest)), vec![Pull]);
        assert_eq!(
            repository_actions(&member(ProjectRole::LimitedGuest)),
            vec![Pull]
        );
        assert_eq!(
            repository_actions(&ProjectAccess::default()),
            Vec::<Action>::new()
        );
        assert_eq!(
            repository_actions(&ProjectAccess {
                public: true,
                ..Default::default()
            }),
            vec![Pull]
        );
        assert_eq!(
            repository_actions(&ProjectAccess {
                sysadmin: true,
                ..Default::default()
            }),
            vec![Pull, Push, Delete]
        );
    }

    #[test]
    fn harbor_specifics() {
        // A limited guest cannot list members or read the project's logs; only admins see logs.
        assert!(!allowed(
            &member(ProjectRole::LimitedGuest),
            R::Member,
            O::List
        ));
        assert!(allowed(&member(ProjectRole::Guest), R::Member, O::List));
        assert!(!allowed(&member(ProjectRole::Maintainer), R::Log, O::List));
        assert!(allowed(&member(ProjectRole::ProjectAdmin), R::Log, O::List));
        assert!(!allowed(&member(ProjectRole::Developer), R::Tag, O::Delete));
        assert!(allowed(
            &member(ProjectRole::Maintainer),
            R::Artifact,
            O::Delete
        ));
        assert!(!allowed(
            &member(ProjectRole::Maintainer),
            R::Robot,
            O::Create
        ));
        // A public project lets anyone read, never write.
        let public = ProjectAccess {
            public: true,
            ..Default::default()
        };
        assert!(allowed(&public, R::Artifact, O::List) && !allowed(&public, R::Member, O::List));
    }

    #[test]
    fn robots_have_exactly_their_grants() {
        let robot = ProjectAccess {
            role: Some(ProjectRole::ProjectAdmin), // ignored for robots
            robot: Some(vec![(R::Repository, O::Pull)]),
            ..Default::default()
        };
        assert_eq!(repository_actions(&robot), vec![Pull]);
        assert!(!allowed(&robot, R::Member, O::List));
    }

    #[test]
    fn system_entries_are_admins_and_granted_robots_only() {
        let admin = SystemAccess {
            sysadmin: true,
            robot: None,
        };
        assert!(allowed_system(&admin, R::AuditLog, O::List));
        assert!(
            !allowed_system(&admin, R::Repository, O::Push),
            "not a system entry"
        );
        assert!(!allowed_system(&SystemAccess::default(), R::User, O::List));
        let robot = SystemAccess {
            sysadmin: false,
            robot: Some(vec![(R::AuditLog, O::List)]),
        };
        assert!(allowed_system(&robot, R::AuditLog, O::List));
        assert!(!allowed_system(&robot, R::User, O::List));
    }

    #[test]
    fn role_ids_are_harbors() {
        for id in 1..=5 {
            assert_eq!(ProjectRole::from_id(id).map(ProjectRole::id), Some(id));
        }
        assert_eq!(ProjectRole::from_id(0), None);
    }

    #[test]
    fn docs_match_the_table() {
        let doc = include_str!("../../../docs/permissions.md");
        for table in [markdown_table(), system_markdown_table()] {
            assert!(
                doc.contains(&table),
                "docs/permissions.md is stale; it must contain:\n{table}"
            );
        }
    }
}
