// What `silo reconcile` reports: one finding per thing left behind, and whether `--fix` repaired it.
export interface ReconcileFinding {
  kind:
    | 'stuck_provisioning'
    | 'failed_neon_project'
    | 'orphan_database'
    | 'orphan_role'
    | 'unreachable_server'
    | 'interrupted_move'
    | 'interrupted_restore'
    | 'move_leftover'
    | 'forced_delete_leftover'
    /** A warm pool database a refill left half-made, or whose row or database is gone. */
    | 'broken_warm_database'
    | 'legacy_names'
    | 'interrupted_backup'
    /** Stored files of a company that no row of its database names (docs/files.md). */
    | 'unreferenced_files';
  serverId: string | null;
  name: string;
  companyId?: string;
  fixed: boolean;
  error?: string;
}
