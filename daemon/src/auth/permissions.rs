//! The permission table: one place that decides what a role may do, used by the token service,
//! the REST API and the portal alike. Role ids are Harbor's.

/// An action on a repository, as named in token scopes.
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
}

/// Role → what it may do to a project's repositories. Matches Harbor's matrix: pull for every
/// role, push for developer and up, delete for maintainer and up.
const REPOSITORY_TABLE: &[(ProjectRole, &[Action])] = &[
    (
        ProjectRole::ProjectAdmin,
        &[Action::Pull, Action::Push, Action::Delete],
    ),
    (
        ProjectRole::Maintainer,
        &[Action::Pull, Action::Push, Action::Delete],
    ),
    (ProjectRole::Developer, &[Action::Pull, Action::Push]),
    (ProjectRole::Guest, &[Action::Pull]),
    (ProjectRole::LimitedGuest, &[Action::Pull]),
];

/// What a caller may do to the repositories of one project. System admins may do everything;
/// anyone, signed in or not, may pull from a public project.
pub fn repository_actions(
    sysadmin: bool,
    role: Option<ProjectRole>,
    project_public: bool,
) -> Vec<Action> {
    if sysadmin {
        return Action::ALL.to_vec();
    }
    let mut actions: Vec<Action> = role
        .and_then(|r| REPOSITORY_TABLE.iter().find(|(role, _)| *role == r))
        .map(|(_, a)| a.to_vec())
        .unwrap_or_default();
    if project_public && !actions.contains(&Action::Pull) {
        actions.insert(0, Action::Pull);
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    #[test]
    fn matrix() {
        let private = |role| repository_actions(false, role, false);
        assert_eq!(
            private(Some(ProjectRole::ProjectAdmin)),
            vec![Pull, Push, Delete]
        );
        assert_eq!(
            private(Some(ProjectRole::Maintainer)),
            vec![Pull, Push, Delete]
        );
        assert_eq!(private(Some(ProjectRole::Developer)), vec![Pull, Push]);
        assert_eq!(private(Some(ProjectRole::Guest)), vec![Pull]);
        assert_eq!(private(Some(ProjectRole::LimitedGuest)), vec![Pull]);
        assert_eq!(private(None), Vec::<Action>::new());
        assert_eq!(repository_actions(false, None, true), vec![Pull]);
        assert_eq!(
            repository_actions(true, None, false),
            vec![Pull, Push, Delete]
        );
    }

    #[test]
    fn role_ids_are_harbors() {
        for id in 1..=5 {
            assert_eq!(ProjectRole::from_id(id).map(ProjectRole::id), Some(id));
        }
        assert_eq!(ProjectRole::from_id(0), None);
    }
}
