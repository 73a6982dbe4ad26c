# Berth portal, English. Keys are shared with zh-CN.ftl; a test keeps the two equal.

## Frame
skip-to-content = Skip to content
language = Language
nav-main = Main
nav-projects = Projects
nav-administration = Administration
nav-users = Users
nav-groups = Groups
nav-logs = Logs
nav-gc = Garbage Collection
nav-configuration = Configuration
nav-system = System Information
sign-out = Sign out
server-refused = The server refused:
breadcrumb = Breadcrumb
yes = Yes
no = No

## Actions
action-add = Add
action-apply = Apply
action-cancel = Cancel
action-copy = Copy
action-create = Create
action-delete = Delete
action-save = Save
action-search = Search

## Errors and confirmations
error-title = Something went wrong
error-home = Back to the start page
confirm-title = Please confirm

## Signing in and up
sign-in-title = Sign in to Berth
sign-in-button = Sign in
sign-in-expired = Your session has ended. Sign in again to go on where you were.
sign-in-bad-credentials = Invalid username or password.
sign-in-robot = Robot accounts cannot sign in to the portal; use them with docker login.
sign-in-link = Back to sign in
sign-up-link = Create an account
sign-up-title = Create an account
sign-up-button = Sign up
sign-up-done = Your account is ready: sign in with it.
field-username = Username
field-password = Password
field-password-again = Password again
field-email = Email
field-realname = Full name
field-comment = Comment
field-created = Created
field-admin = Administrator
field-old-password = Current password
field-new-password = New password
password-rule = 8 to 128 characters, with at least one upper-case letter, one lower-case letter and one digit.
password-mismatch = The two passwords differ.

## Profile
profile-title = User Profile
profile-details = Details
profile-saved = Your profile was saved.
password-title = Change Password
password-change-button = Change password
password-changed = Your password was changed.
password-in-directory = Your password is kept in the directory (LDAP); change it there.

## Tables
paging = Pages
paging-range = { $first } - { $last } of { $total } items
paging-prev = Previous page
paging-next = Next page
paging-size = Page size
filter-by-name = Filter by name
filter-by-tag = Filter by tag or digest
sort-by = Sort by
col-name = Name
col-access = Access Level
col-role = Role
col-repositories = Repositories
col-created = Creation Time
col-updated = Last Modified Time
col-pulls = Pulls
col-digest = Digest
col-tags = Tags
col-type = Type
col-size = Size
col-pushed = Push Time
col-pulled = Pull Time
col-pull-command = Pull Command
col-media-type = Media Type
col-artifact-type = Artifact Type
col-platform = OS/ARCH
col-manifest-size = Manifest Size
col-status = Status
col-trigger = Trigger
col-actions = Actions

## Roles
role-project-admin = Project Admin
role-maintainer = Maintainer
role-developer = Developer
role-guest = Guest
role-limited-guest = Limited Guest

## Projects
projects-title = Projects
projects-empty = No projects to show. Create one, or ask a project admin to add you to theirs.
project-new = New Project
project-name-rule = Lower-case letters and digits, with single . _ or - between them.
project-public-choice = Public: anyone may pull without signing in
project-public = Public
project-private = Private
project-created = Project { $name } was created.
project-deleted = Project { $name } was deleted.
project-delete = Delete project
project-delete-question = Delete project { $name }?
project-delete-consequence = The project, its members and its robot accounts go. This cannot be undone.
project-delete-not-empty = { $count ->
    [one] This project still holds one repository: it will be refused until that is deleted.
   *[other] This project still holds { $count } repositories: it will be refused until they are deleted.
}
project-your-role = Your role: { $role }
project-tabs = Project sections
tab-summary = Summary
tab-repositories = Repositories
tab-members = Members
tab-robots = Robot Accounts
tab-logs = Logs

## Summary
summary-artifacts = Artifacts
summary-storage = Storage used
summary-storage-explained = Each blob counted once per project, plus the manifests. Space freed by deletions returns after the next garbage collection.
summary-members = Members
summary-owner = Owner
chart-storage-by-repository = Storage by repository
chart-activity = Pushes and pulls per day, last 30 days (UTC)
chart-pushes = Pushes
chart-pulls = Pulls
chart-empty = Nothing stored yet.

## Repositories and artifacts
push-command = Push Command
push-command-explained = Sign in, tag your image for this project, and push it:
repositories-empty = No repositories yet. Push an image into this project to make one.
repository-delete = Delete repository
repository-delete-question = { $count ->
    [one] Delete repository { $name } with its one artifact?
   *[other] Delete repository { $name } with its { $count } artifacts?
}
repository-deleted = Repository { $name } was deleted.
artifacts-title = Artifacts
artifacts-empty = No artifacts match.
artifact-title = Artifact
artifact-delete = Delete artifact
artifact-delete-question = { $tags ->
    [0] Delete this artifact?
    [one] Delete this artifact? Its tag goes with it.
   *[other] Delete this artifact? Its { $tags } tags go with it.
}
artifact-deleted = Artifact { $digest } was deleted.
artifact-subject = Attached to
artifact-platforms = Platforms
artifact-config = Configuration
artifact-layers = Layers
artifact-annotations = Annotations
artifact-referrers = Referrers (signatures, SBOMs and other attached artifacts)
referrers-none = Nothing is attached to this artifact.
gc-frees-later = Disk space is freed at the next garbage collection.
kind-image = Image
kind-index = Image index
platform-count = { $count ->
    [one] one platform
   *[other] { $count } platforms
}
copy-digest = Copy digest
copy-pull-digest = Copy the pull command of
tags-none = This artifact has no tags.
tag-add = New tag
tag-added = Tag { $tag } was added.
tag-delete = Remove tag
tag-delete-question = Remove tag { $tag }?
tag-delete-consequence = Only the tag goes; the artifact stays, reachable by its digest and its other tags.
tag-deleted = Tag { $tag } was removed.
config-author = Author
config-entrypoint = Entrypoint
config-cmd = Command
config-workdir = Working directory
config-user = User
config-env = Environment
config-labels = Labels
config-history = Build History

## Robot accounts
robot-name = Name
robot-secret = Secret
robot-export = Export to file
robot-secret-once = This secret is shown only this once. Copy it or export it now.

## Garbage collection
gc-title = Garbage Collection
gc-explained = Garbage collection runs while pushes and pulls go on. It deletes blobs no manifest uses that nobody has touched within the time window, and with "delete untagged" also artifacts without tags.
gc-run-now = Run now
gc-delete-untagged = Delete untagged artifacts
gc-dry-run = Dry run
gc-workers = Workers
gc-now = GC Now
gc-schedule = Schedule
gc-schedule-type = Repeat
gc-cron = Cron expression (six fields, UTC)
gc-cron-hint = Only for Custom, e.g. 0 30 2 * * * runs at 02:30 UTC every day.
gc-next-run = Next run
gc-no-next-run = No run is scheduled.
gc-schedule-saved = The schedule was saved.
gc-history = History
gc-history-empty = Garbage collection has not run yet.
gc-deleted-blobs = Blobs deleted
gc-deleted-manifests = Manifests deleted
gc-freed = Space freed
gc-started = Garbage collection { $id } started.
gc-run-title = Garbage collection { $id }
gc-progress = Progress
gc-stop = Stop
gc-stop-asked = Asked to stop; what was already deleted stays deleted.
gc-log = Log
gc-log-tail = { $count ->
    [one] One line; the newest 200 are shown.
   *[other] { $count } lines; the newest 200 are shown.
}
gc-log-full = Full log
schedule-none = None
schedule-hourly = Hourly
schedule-daily = Daily
schedule-weekly = Weekly
schedule-custom = Custom
status-pending = Pending
status-running = Running
status-success = Success
status-error = Error
status-stopped = Stopped
trigger-manual = Manual
trigger-schedule = Schedule

## Members
member-add = Add Member
member-type = Member Type
member-user = User
member-group = Group
member-name = Name
member-name-hint = A user's name, or a user group's name (LDAP groups are added under Administration, Groups).
member-change-role = Change role
member-remove = Remove
member-self = That is you
member-added = { $name } was added.
member-role-changed = The role of { $name } was changed.
member-remove-question = Remove { $name } from this project?
member-remove-consequence = They lose what the role allowed here at once; their account stays.
member-removed = { $name } was removed.

## Robot accounts (the rest)
robot-new = New Robot Account
robot-name-hint = The full name gets the robot prefix and the project's name, e.g. robot$project+name.
robot-description = Description
robot-expiration = Expiration
robot-days = { $count ->
    [one] one day
   *[other] { $count } days
}
robot-never-expires = Never Expires
robot-permissions = Permissions
robot-enabled-col = Enabled
robot-expires = Expires
robot-refresh = Refresh Secret
robot-disable = Disable
robot-enable = Enable
robots-empty = No robot accounts yet.
robot-needs-permission = Choose at least one permission for the robot.
robot-created = Robot account { $name } was created.
robot-refreshed = Robot account { $name } has a new secret; the old one no longer works.
robot-disabled = Robot account { $name } was disabled.
robot-enabled = Robot account { $name } was enabled.
robot-delete-question = Delete robot account { $name }?
robot-delete-consequence = Clients using its secret are refused from now on.
robot-deleted = Robot account { $name } was deleted.

## Logs
logs-title = Logs
logs-empty = No log entries match.
log-time = Timestamp
log-operation = Operation
log-resource = Resource
log-resource-type = Resource Type
log-result = Result
log-succeeded = Succeeded
log-failed = Failed
log-client = Client Address
log-from = From
log-to = To
filter-all = All
op-create = Create
op-update = Update
op-delete = Delete
op-push = Push
op-pull = Pull
op-login = Log in
op-stop = Stop

## Users and groups
users-title = Users
users-ldap-note = Users sign in with the directory (LDAP); they appear here after their first sign-in.
user-new = New User
user-source = Source
user-source-ldap = Directory (LDAP)
user-source-db = Database
user-set-admin = Set as administrator
user-revoke-admin = Revoke administrator
user-created = User { $name } was created.
user-made-admin = { $name } is now a system administrator.
user-admin-revoked = { $name } is no longer a system administrator.
user-delete-question = Delete user { $name }?
user-delete-consequence = The account, its project memberships and its browser sessions end. Its projects stay.
user-deleted = User { $name } was deleted.
groups-title = Groups
groups-explained = A user group stands for a directory (LDAP) group: make it a project member, and everyone in the directory group gets its role.
groups-empty = No user groups yet.
group-new = New Group
group-dn = LDAP Group DN
group-name = Group Name
group-name-hint = Leave empty to use the directory's name for it.
group-created = Group { $name } was created.
group-delete-question = Delete group { $name }?
group-delete-consequence = Its project memberships end; the directory group itself is not changed.
group-deleted = Group { $name } was deleted.

## System information
system-title = System Information
system-version = Version
system-registry-used = Stored by the registry
system-volume = Disk of the blob store
system-volume-total = Disk size
system-volume-free = Free
system-volume-used = Used
chart-storage-by-project = Storage by project (largest ten)
system-ca-title = Registry Root Certificate
system-ca-explained = Clients trust this registry once they trust the certificate authority (CA) that signed its certificate. Download it, check its fingerprint, and install it where each client looks:
system-ca-fingerprint = SHA-256 fingerprint
system-ca-download = Download the CA certificate
system-ca-check = Check that the file is this CA: the command prints the fingerprint above.
system-ca-docker = Docker (read at each login, pull and push; no restart):
system-ca-podman = Podman, skopeo and buildah:
system-ca-debian = The whole machine, on Debian and Ubuntu:
system-ca-rhel = The whole machine, on RHEL, Fedora and Rocky:
system-ca-login = Then sign in as usual:
system-ca-none = Berth was not given a CA certificate: its certificate comes from an authority clients already trust, or it serves plain HTTP.
system-plain-http = This page came over plain HTTP: Docker allows that only for registries on 127.0.0.0/8, or those listed in its insecure-registries.

## Configuration
config-title = Configuration
config-explained = These settings take effect at once, without a restart. berth-setup, the portal and the configurations API all read and write the same stored settings.
config-authentication = Authentication
config-auth-mode = Login mode
config-auth-db = Database
config-auth-ldap = LDAP / Active Directory
config-auth-hint = The built-in admin always signs in with its local password, whatever the mode.
config-system = System Settings
config-self-registration = Allow Self-Registration (database login only)
config-project-creation = Project Creation
config-everyone = Everyone
config-admin-only = Admin Only
config-token-expiration = Token Expiration (minutes)
config-session-timeout = Session Timeout (minutes)
config-robot-duration = Robot Token Expiration (days)
config-robot-prefix = Robot Name Prefix
config-audit-retention = Keep the audit log (days)
config-pull-audit-disable = Do not record pulls in the audit log (pull counts are kept)
config-banner = Banner Message
config-banner-text = Message
config-banner-hint = Shown on top of every page, to everyone; leave empty for none.
config-banner-type = Type
banner-info = Information
banner-warning = Warning
banner-danger = Danger
banner-success = Success
config-saved = Saved: { $keys }.
config-unchanged = Nothing changed.
config-mode-confirm-title = Change the login mode?
config-to-ldap = { $count ->
    [0] Logins will go to the directory. No local account other than admin exists, so nobody loses access.
    [one] Logins will go to the directory. One local account other than admin will no longer be able to sign in with its password; its projects and memberships stay.
   *[other] Logins will go to the directory. { $count } local accounts other than admin will no longer be able to sign in with their passwords; their projects and memberships stay.
}
config-to-db = { $count ->
    [0] Logins will use Berth's database. No directory account has signed in yet, so nobody loses access.
    [one] Logins will use Berth's database. One directory account will not be able to sign in until an administrator gives it a password (Users); its memberships stay, memberships through LDAP groups stop counting.
   *[other] Logins will use Berth's database. { $count } directory accounts will not be able to sign in until an administrator gives them a password (Users); their memberships stay, memberships through LDAP groups stop counting.
}
config-mode-admin-stays = The built-in admin signs in locally either way. You can change the mode back at any time.
config-mode-password = LDAP Search Password, again
config-mode-confirm = Change the login mode
ldap-url = LDAP URL
ldap-search-dn = LDAP Search DN
ldap-search-password = LDAP Search Password
ldap-password-kept = Leave empty to keep the saved password.
ldap-base-dn = LDAP Base DN
ldap-filter = LDAP Filter
ldap-uid = LDAP UID attribute
ldap-scope = LDAP Scope
ldap-scope-base = Base
ldap-scope-one = One level
ldap-scope-subtree = Subtree
ldap-timeout = Timeout (seconds)
ldap-verify-cert = Verify the server's certificate
ldap-starttls = StartTLS (for ldap:// URLs)
ldap-group-base-dn = LDAP Group Base DN
ldap-group-filter = LDAP Group Filter
ldap-group-attribute = LDAP Group GID attribute
ldap-group-scope = LDAP Group Scope
ldap-group-admin-dn = LDAP Group Admin DN
ldap-membership-attribute = LDAP Group Membership attribute
ldap-test = Test LDAP Server
ldap-test-passed = The directory answered: connection, TLS, search bind and base DN all work.
ldap-test-failed = The test failed at { $step }

## Replication
nav-registries = Registries
nav-replications = Replications
action-delete-named = Delete { $name }
trigger-event = Event-based
registries-title = Registries
registries-explained = Other registries that replication copies to or from: Berth and Harbor (type harbor) or any registry with only the distribution API (type docker-registry). Secrets are stored sealed and never shown again.
registries-empty = No registry yet.
registry-new = New Registry Endpoint
registry-provider = Provider
registry-url = Endpoint URL
registry-url-hint = Scheme, host and port only, e.g. https://registry.example.com:443.
registry-access-key = Access ID
registry-access-secret = Access Secret
registry-insecure = Verify remote certificate: off (insecure)
registry-insecure-short = insecure
registry-ca = CA certificate (PEM)
registry-ca-hint = Trust only this CA for the endpoint's certificate; empty uses the system's CAs.
registry-healthy = Healthy
registry-unhealthy = Unhealthy
registry-unknown = Unknown
registry-self = This instance
registry-test = Test Connection
registry-test-named = Test the connection to { $name }
registry-test-ok = { $name } answered and accepted the credentials.
registry-test-failed = { $name } could not be reached:
registry-is-self = { $name } is this very instance: a policy towards it would loop.
registry-created = The registry { $name } was added.
registry-deleted = The registry { $name } was deleted.
registry-delete-question = Delete this registry endpoint?
registry-delete-consequence = Policies that use it must be deleted or changed first.
replications-title = Replications
replications-explained = Policies copy artifacts, with their children and referrers, between this registry and another. Push-based policies copy from here, pull-based ones to here. An execution succeeds only when every task did; failed tasks can be retried once the cause is fixed.
replications-empty = No replication policy yet.
repl-new = New Replication Rule
repl-need-endpoint = Add a registry endpoint first:
repl-direction = Replication mode
repl-push = Push-based
repl-pull = Pull-based
repl-push-long = Push-based: from this registry to the endpoint
repl-pull-long = Pull-based: from the endpoint to this registry
repl-endpoint = Registry
repl-namespace = Destination namespace
repl-namespace-hint = Empty keeps the source's namespace; missing projects are made private.
repl-flattening = Flattening
repl-flatten-all = Flatten All Levels
repl-flatten-none = No Flattening
repl-flatten-1 = Flatten 1 Level
repl-flatten-2 = Flatten 2 Levels
repl-flatten-3 = Flatten 3 Levels
repl-name-filter = Name filter
repl-tag-filter = Tag filter
repl-filter-hint = Patterns: * within one path level, ** across them, ? one character, {"{"}a,b{"}"} either.
repl-speed = Bandwidth limit per task (KB/s, 0 for none)
repl-override = Override tags that point elsewhere
repl-deletion = Replicate deletions
repl-enabled = Enabled
repl-run = Replicate
repl-run-named = Replicate with { $name }
repl-started = Execution { $id } started.
repl-policy-created = The replication rule { $name } was created.
repl-policy-deleted = The replication rule { $name } was deleted.
repl-delete-question = Delete this replication rule?
repl-delete-consequence = Its finished executions and their logs go with it; what it copied stays.
repl-executions = Executions
repl-executions-empty = No execution yet.
repl-policy = Rule
repl-tasks = Tasks
repl-tasks-shown = { $count ->
    [one] One task.
   *[other] { $count } tasks; the first 100 are shown.
}
repl-bytes = Bytes copied
repl-started-at = Start Time
repl-in-progress = In Progress
repl-succeed = Succeeded
repl-failed = Failed
repl-stopped = Stopped
repl-run-title = Replication execution { $id }
repl-stop = Stop
repl-stop-asked = A stop was asked for.
repl-retry = Retry failed tasks
repl-retry-hint = The same execution runs its failed and stopped tasks again.
repl-retried = { $count ->
    [one] One task runs again.
   *[other] { $count } tasks run again.
}
repl-operation = Operation
repl-op-copy = Copy
repl-op-delete = Delete
repl-source = Source
repl-destination = Destination
repl-attempts = Attempts
repl-log = Log
repl-log-of = Log of task { $id }
repl-task-title = Replication task { $id }

## Issue 15: retention, immutability, quotas
tab-policy = Policy
col-started = Started
action-refresh = Refresh
nav-quotas = Project Quotas
quota-label = Quota used
quota-used = Used
quota-limit = Limit
quota-unit = Unit
quota-unlimited = unlimited
quota-limit-of = Limit of { $project }
quota-used-of = { $used } of { $limit } ({ $percent }%)
quota-used-unlimited = { $used } (unlimited)
quota-explained = Usage counts each blob and manifest once per project; a layer shared by two projects counts in both. It rises with each push and falls when deleted content is freed by the next garbage collection. A push that would go over the limit is refused. A limit below what a project stores is refused.
quota-invalid-limit = The limit must be a whole number of bytes, KiB, MiB, GiB or TiB, or unlimited.
quota-saved = Quota of { $project } saved.
retention-title = Tag Retention
retention-explained = In every repository a rule selects, artifacts that no rule retains are deleted, untagged ones too unless a rule selects them. An artifact with any retained or immutable tag keeps all its tags. Try a dry run first: it deletes nothing and lists what would go.
retention-rules = Retention rules
retention-col-rule = Rule
retention-col-tags = Tags
retention-col-total = Artifacts
retention-col-retained = Retained
retention-col-deleted = Deleted
retention-col-would-delete = Would delete
retention-empty = No retention rules: nothing is deleted.
retention-add-rule = Add rule
retention-count = Number (artifacts or days)
retention-count-hint = The number the rule uses; "retain always" ignores it.
retention-schedule = Schedule (cron, six fields)
retention-schedule-hint = For example 0 0 3 * * * for every day at 03:00 UTC. Empty: only when run by hand.
retention-schedule-saved = Schedule saved.
retention-dry-run = Dry run
retention-run-now = Run now
retention-history = History
retention-no-runs = Not run yet.
retention-no-tasks = No repository was selected.
retention-running = Still running.
retention-back = Back to the policies
retention-run-n = Run { $count }
retention-dry-run-n = Dry run { $count }
retention-rule-added = Rule added.
retention-rule-removed = Rule removed.
retention-run-started = Retention started.
retention-dry-run-started = Dry run started: nothing will be deleted.
retention-template-latest-pushed = Retain the most recently pushed # artifacts
retention-template-latest-pulled = Retain the most recently pulled # artifacts
retention-template-latest-active = Retain the most recently pushed or pulled # artifacts
retention-template-days-since-push = Retain the artifacts pushed within the last # days
retention-template-days-since-pull = Retain the artifacts pulled within the last # days
retention-template-always = Retain always
retention-rule-latest-pushed = retain the { $count } most recently pushed
retention-rule-latest-pulled = retain the { $count } most recently pulled
retention-rule-latest-active = retain the { $count } most recently pushed or pulled
retention-rule-days-since-push = retain those pushed within { $count } days
retention-rule-days-since-pull = retain those pulled within { $count } days
retention-rule-always = retain always
selector-matching = matching { $pattern }
selector-excluding = excluding { $pattern }
selector-and-untagged = , and untagged artifacts
selector-matching-choice = matching
selector-excluding-choice = excluding
selector-kind = Matching or excluding
selector-pattern = Pattern
selector-pattern-hint = Patterns: ** for all, * within one path part, {"{"}a,b{"}"} for either; the repository's name without the project's.
selector-untagged = Untagged artifacts too
immutable-title = Tag Immutability
immutable-explained = A tag a rule selects cannot be overwritten by a push or by replication, cannot be deleted, and neither can its artifact. Pushing the same content to it again is accepted.
immutable-col-enabled = Enabled
immutable-empty = No immutability rules.
immutable-add-rule = Add rule
immutable-enable = Enable
immutable-disable = Disable
immutable-rule-added = Rule added.
immutable-rule-changed = Rule changed.
immutable-rule-removed = Rule removed.
config-quota-enable = Enforce project quotas
config-storage-per-project = Default quota of new projects (bytes)
config-storage-per-project-hint = -1 for unlimited; for example 10737418240 for 10 GiB. Each project's own quota is set under Project Quotas.
retention-col-log = Log
retention-back-to-run = Back to the run
retention-more-tasks = { $count ->
    [one] One more repository is not listed here; the REST API lists every task.
   *[other] { $count } more repositories are not listed here; the REST API lists every task.
}
