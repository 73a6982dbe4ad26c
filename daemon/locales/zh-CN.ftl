# Berth 门户，简体中文。键与 en.ftl 相同；测试保证两者一致。

## Frame
skip-to-content = 跳到正文
language = 语言
nav-main = 主导航
nav-projects = 项目
nav-administration = 系统管理
nav-users = 用户管理
nav-groups = 用户组
nav-logs = 日志
nav-gc = 垃圾清理
nav-configuration = 配置管理
nav-system = 系统信息
sign-out = 退出
server-refused = 服务器拒绝了操作：
breadcrumb = 导航路径
yes = 是
no = 否

## Actions
action-add = 添加
action-apply = 应用
action-cancel = 取消
action-copy = 复制
action-create = 创建
action-delete = 删除
action-save = 保存
action-search = 搜索

## Errors and confirmations
error-title = 出错了
error-home = 返回首页
confirm-title = 请确认

## Signing in and up
sign-in-title = 登录 Berth
sign-in-button = 登录
sign-in-expired = 会话已结束。请重新登录，登录后回到原来的页面。
sign-in-bad-credentials = 用户名或密码错误。
sign-in-robot = 机器人账户不能登录门户；请在 docker login 中使用。
sign-in-link = 返回登录
sign-up-link = 注册账户
sign-up-title = 注册账户
sign-up-button = 注册
sign-up-done = 账户已创建，请用它登录。
field-username = 用户名
field-password = 密码
field-password-again = 再次输入密码
field-email = 邮箱
field-realname = 全名
field-comment = 注释
field-created = 创建时间
field-admin = 管理员
field-old-password = 当前密码
field-new-password = 新密码
password-rule = 8 到 128 个字符，至少包含一个大写字母、一个小写字母和一个数字。
password-mismatch = 两次输入的密码不一致。

## Profile
profile-title = 用户设置
profile-details = 个人信息
profile-saved = 个人信息已保存。
password-title = 修改密码
password-change-button = 修改密码
password-changed = 密码已修改。
password-in-directory = 您的密码保存在目录服务（LDAP）中，请在那里修改。

## Tables
paging = 分页
paging-range = { $first } - { $last }，共计 { $total } 条记录
paging-prev = 上一页
paging-next = 下一页
paging-size = 页面大小
filter-by-name = 按名称过滤
filter-by-tag = 按 Tag 或摘要过滤
sort-by = 排序
col-name = 名称
col-access = 访问级别
col-role = 角色
col-repositories = 镜像仓库数
col-created = 创建时间
col-updated = 最后修改时间
col-pulls = 下载数
col-digest = 摘要
col-tags = Tags
col-type = 类型
col-size = 大小
col-pushed = 推送时间
col-pulled = 拉取时间
col-pull-command = 拉取命令
col-media-type = 媒体类型
col-artifact-type = 制品类型
col-platform = OS/ARCH
col-manifest-size = 清单大小
col-status = 状态
col-trigger = 触发方式
col-actions = 操作

## Roles
role-project-admin = 项目管理员
role-maintainer = 维护人员
role-developer = 开发者
role-guest = 访客
role-limited-guest = 受限访客

## Projects
projects-title = 项目
projects-empty = 没有可显示的项目。新建一个，或请项目管理员把您加为成员。
project-new = 新建项目
project-name-rule = 小写字母和数字，中间可用单个 . _ 或 - 分隔。
project-public-choice = 公开：任何人无需登录即可拉取
project-public = 公开
project-private = 私有
project-created = 项目 { $name } 已创建。
project-deleted = 项目 { $name } 已删除。
project-delete = 删除项目
project-delete-question = 删除项目 { $name }？
project-delete-consequence = 项目及其成员和机器人账户都将删除，且无法恢复。
project-delete-not-empty = 该项目中还有 { $count } 个镜像仓库：删除它们之前，删除项目会被拒绝。
project-your-role = 您的角色：{ $role }
project-tabs = 项目分页
tab-summary = 概要
tab-repositories = 镜像仓库
tab-members = 成员
tab-robots = 机器人账户
tab-logs = 日志

## Summary
summary-artifacts = 制品
summary-storage = 已用存储
summary-storage-explained = 每个 blob 在一个项目中只计一次，另加清单本身。删除后释放的空间在下一次垃圾清理后才回到磁盘。
summary-members = 成员
summary-owner = 所有者
chart-storage-by-repository = 各镜像仓库的存储
chart-activity = 最近 30 天每天的推送和拉取（UTC）
chart-pushes = 推送
chart-pulls = 拉取
chart-empty = 还没有存储任何内容。

## Repositories and artifacts
push-command = 推送命令
push-command-explained = 登录，为本项目给镜像打 Tag，然后推送：
repositories-empty = 还没有镜像仓库。向本项目推送一个镜像即可创建。
repository-delete = 删除镜像仓库
repository-delete-question = 删除镜像仓库 { $name } 及其 { $count } 个制品？
repository-deleted = 镜像仓库 { $name } 已删除。
artifacts-title = 制品
artifacts-empty = 没有匹配的制品。
artifact-title = 制品
artifact-delete = 删除制品
artifact-delete-question = { $tags ->
    [0] 删除这个制品？
   *[other] 删除这个制品？它的 { $tags } 个 Tag 也会一并删除。
}
artifact-deleted = 制品 { $digest } 已删除。
artifact-subject = 附加到
artifact-platforms = 平台
artifact-config = 配置
artifact-layers = 镜像层
artifact-annotations = 注解
artifact-referrers = 附件（签名、SBOM 和其他附加的制品）
referrers-none = 没有附加到这个制品的内容。
gc-frees-later = 磁盘空间在下一次垃圾清理时释放。
kind-image = 镜像
kind-index = 镜像索引
platform-count = { $count } 个平台
copy-digest = 复制摘要
copy-pull-digest = 复制拉取命令：
tags-none = 这个制品没有 Tag。
tag-add = 新 Tag
tag-added = Tag { $tag } 已添加。
tag-delete = 移除 Tag
tag-delete-question = 移除 Tag { $tag }？
tag-delete-consequence = 只移除 Tag；制品保留，仍可通过摘要和其他 Tag 访问。
tag-deleted = Tag { $tag } 已移除。
config-author = 作者
config-entrypoint = 入口点
config-cmd = 命令
config-workdir = 工作目录
config-user = 用户
config-env = 环境变量
config-labels = 标签
config-history = 构建历史

## Robot accounts
robot-name = 名称
robot-secret = 令牌
robot-export = 导出到文件中
robot-secret-once = 令牌只显示这一次。请现在复制或导出。

## Garbage collection
gc-title = 垃圾清理
gc-explained = 垃圾清理在推送和拉取进行时运行。它删除没有清单使用、且在时间窗口内无人访问的 blob；勾选“删除无 Tag 的制品”时也删除没有 Tag 的制品。
gc-run-now = 立即运行
gc-delete-untagged = 删除无 Tag 的制品
gc-dry-run = 模拟运行
gc-workers = 工作者
gc-now = 立即清理垃圾
gc-schedule = 定时任务
gc-schedule-type = 重复
gc-cron = Cron 表达式（六个字段，UTC）
gc-cron-hint = 仅用于自定义，例如 0 30 2 * * * 表示每天 UTC 02:30 运行。
gc-next-run = 下次运行
gc-no-next-run = 没有定时运行。
gc-schedule-saved = 定时任务已保存。
gc-history = 历史任务
gc-history-empty = 垃圾清理还没有运行过。
gc-deleted-blobs = 删除的 blob
gc-deleted-manifests = 删除的清单
gc-freed = 释放的空间
gc-started = 垃圾清理 { $id } 已开始。
gc-run-title = 垃圾清理 { $id }
gc-progress = 进度
gc-stop = 停止
gc-stop-asked = 已请求停止；已删除的内容不会恢复。
gc-log = 日志
gc-log-tail = 共 { $count } 行；显示最新的 200 行。
gc-log-full = 完整日志
schedule-none = 无
schedule-hourly = 每小时
schedule-daily = 每天
schedule-weekly = 每周
schedule-custom = 自定义
status-pending = 未开始
status-running = 执行中
status-success = 成功
status-error = 错误
status-stopped = 已停止
trigger-manual = 手动
trigger-schedule = 定时

## Members
member-add = 添加成员
member-type = 成员类型
member-user = 用户
member-group = 用户组
member-name = 名称
member-name-hint = 用户名，或用户组名（LDAP 组在“系统管理 › 用户组”中添加）。
member-change-role = 修改角色
member-remove = 移除
member-self = 这是您自己
member-added = 已添加 { $name }。
member-role-changed = { $name } 的角色已修改。
member-remove-question = 把 { $name } 从本项目中移除？
member-remove-consequence = 该角色在本项目中的权限立即失效；账户本身保留。
member-removed = 已移除 { $name }。

## Robot accounts (the rest)
robot-new = 新建机器人账户
robot-name-hint = 完整名称会加上机器人前缀和项目名，例如 robot$project+name。
robot-description = 描述
robot-expiration = 有效期
robot-days = { $count } 天
robot-never-expires = 永不过期
robot-permissions = 权限
robot-enabled-col = 启用
robot-expires = 过期时间
robot-refresh = 刷新令牌
robot-disable = 禁用
robot-enable = 启用
robots-empty = 还没有机器人账户。
robot-needs-permission = 请为机器人至少选择一项权限。
robot-created = 机器人账户 { $name } 已创建。
robot-refreshed = 机器人账户 { $name } 已有新令牌；旧令牌不再有效。
robot-disabled = 机器人账户 { $name } 已禁用。
robot-enabled = 机器人账户 { $name } 已启用。
robot-delete-question = 删除机器人账户 { $name }？
robot-delete-consequence = 从现在起，使用其令牌的客户端都会被拒绝。
robot-deleted = 机器人账户 { $name } 已删除。

## Logs
logs-title = 日志
logs-empty = 没有匹配的日志。
log-time = 时间戳
log-operation = 操作
log-resource = 资源
log-resource-type = 资源类型
log-result = 结果
log-succeeded = 成功
log-failed = 失败
log-client = 客户端地址
log-from = 从
log-to = 到
filter-all = 全部
op-create = 创建
op-update = 更新
op-delete = 删除
op-push = 推送
op-pull = 拉取
op-login = 登录
op-stop = 停止

## Users and groups
users-title = 用户管理
users-ldap-note = 用户通过目录服务（LDAP）登录；首次登录后才会出现在这里。
user-new = 创建用户
user-source = 来源
user-source-ldap = 目录服务（LDAP）
user-source-db = 数据库
user-set-admin = 设置为管理员
user-revoke-admin = 取消管理员
user-created = 用户 { $name } 已创建。
user-made-admin = { $name } 现在是系统管理员。
user-admin-revoked = { $name } 不再是系统管理员。
user-delete-question = 删除用户 { $name }？
user-delete-consequence = 账户、其项目成员身份和浏览器会话都将结束；其项目保留。
user-deleted = 用户 { $name } 已删除。
groups-title = 用户组
groups-explained = 用户组代表一个目录服务（LDAP）组：把它设为项目成员，该目录组中的每个人都获得相应角色。
groups-empty = 还没有用户组。
group-new = 新建用户组
group-dn = LDAP 组 DN
group-name = 组名
group-name-hint = 留空则使用目录服务中的组名。
group-created = 用户组 { $name } 已创建。
group-delete-question = 删除用户组 { $name }？
group-delete-consequence = 其项目成员身份结束；目录服务中的组本身不受影响。
group-deleted = 用户组 { $name } 已删除。

## System information
system-title = 系统信息
system-version = 版本
system-registry-used = 镜像库已用存储
system-volume = blob 存储所在磁盘
system-volume-total = 磁盘容量
system-volume-free = 可用
system-volume-used = 已用
chart-storage-by-project = 各项目的存储（最大的十个）
system-ca-title = 镜像库根证书
system-ca-explained = 客户端信任为本镜像库证书签名的证书颁发机构（CA）后，才会信任本镜像库。请下载该证书，核对指纹，再安装到各客户端读取的位置：
system-ca-fingerprint = SHA-256 指纹
system-ca-download = 下载 CA 证书
system-ca-check = 确认文件就是这个 CA：命令打印的指纹应与上面相同。
system-ca-docker = Docker（每次登录、拉取和推送时读取，无需重启）：
system-ca-podman = Podman、skopeo 和 buildah：
system-ca-debian = 整台机器，Debian 和 Ubuntu：
system-ca-rhel = 整台机器，RHEL、Fedora 和 Rocky：
system-ca-login = 然后照常登录：
system-ca-none = Berth 没有配置 CA 证书：它的证书来自客户端已信任的机构，或者它只提供明文 HTTP。
system-plain-http = 本页经明文 HTTP 送达：Docker 只对 127.0.0.0/8 上或列入 insecure-registries 的镜像库允许这样做。

## Configuration
config-title = 配置管理
config-explained = 这些设置立即生效，无需重启。berth-setup、门户和配置 API 读写的是同一份存储的设置。
config-authentication = 认证模式
config-auth-mode = 登录方式
config-auth-db = 数据库
config-auth-ldap = LDAP / Active Directory
config-auth-hint = 无论哪种方式，内置的 admin 总是用本地密码登录。
config-system = 系统设置
config-self-registration = 允许自注册（仅数据库登录）
config-project-creation = 项目创建
config-everyone = 所有人
config-admin-only = 仅管理员
config-token-expiration = 令牌过期时间（分钟）
config-session-timeout = 会话过期时间（分钟）
config-robot-duration = 机器人令牌有效期（天）
config-robot-prefix = 机器人名称前缀
config-audit-retention = 审计日志保留天数
config-pull-audit-disable = 不在审计日志中记录拉取（保留下载数）
config-banner = 横幅消息
config-banner-text = 消息
config-banner-hint = 显示在每个页面顶部，所有人可见；留空则不显示。
config-banner-type = 类型
banner-info = 信息
banner-warning = 警告
banner-danger = 危险
banner-success = 成功
config-saved = 已保存：{ $keys }。
config-unchanged = 没有改动。
config-mode-confirm-title = 修改登录方式？
config-to-ldap = 登录将交给目录服务。除 admin 外的 { $count } 个本地账户将不能再用密码登录；其项目和成员身份保留。
config-to-db = 登录将使用 Berth 的数据库。{ $count } 个目录账户在管理员为其设置密码（用户管理）之前不能登录；其成员身份保留，通过 LDAP 组获得的成员身份不再生效。
config-mode-admin-stays = 无论哪种方式，内置的 admin 都在本地登录。您随时可以改回来。
config-mode-password = 再次输入 LDAP 搜索密码
config-mode-confirm = 修改登录方式
ldap-url = LDAP URL
ldap-search-dn = LDAP 搜索 DN
ldap-search-password = LDAP 搜索密码
ldap-password-kept = 留空则保留已保存的密码。
ldap-base-dn = LDAP 基础 DN
ldap-filter = LDAP 过滤器
ldap-uid = LDAP UID 属性
ldap-scope = LDAP 搜索范围
ldap-scope-base = 基础
ldap-scope-one = 单层
ldap-scope-subtree = 子树
ldap-timeout = 超时（秒）
ldap-verify-cert = 验证服务器证书
ldap-starttls = StartTLS（用于 ldap:// URL）
ldap-group-base-dn = LDAP 组基础 DN
ldap-group-filter = LDAP 组过滤器
ldap-group-attribute = LDAP 组 GID 属性
ldap-group-scope = LDAP 组搜索范围
ldap-group-admin-dn = LDAP 组管理员 DN
ldap-membership-attribute = LDAP 组成员属性
ldap-test = 测试LDAP服务器
ldap-test-passed = 目录服务已应答：连接、TLS、搜索绑定和基础 DN 都正常。
ldap-test-failed = 测试在这一步失败：{ $step }
