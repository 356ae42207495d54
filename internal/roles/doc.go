// Package roles keeps the named roles of Keep and the system permissions
// they grant (collections.manage, users.manage, …), assigns roles to users,
// and answers whether a caller holds a permission.
//
// Security-critical: changes here need extra care in review. The rules it
// keeps:
//
//   - Deny by default: a caller holds a permission only through a role that
//     grants it, or by holding the built-in superuser role.
//   - The superuser role cannot be edited or deleted, and only a superuser
//     may assign or remove it; the last superuser cannot lose it.
//   - No escalation: a caller who is not a superuser may create, change,
//     delete, assign or remove only roles whose permissions they hold
//     themselves, so users.manage cannot be turned into roles.manage.
//   - Nothing is cached: [Service.Has] reads the caller's roles' permissions
//     from the database (one indexed query, on admin routes only, none for
//     superusers), so a change made by any process applies to the next
//     request. The caller's roles themselves are read fresh by package
//     accounts on every request.
package roles
