import { Migration } from '@mikro-orm/migrations';

/**
 * Invigilator actions are idempotent: the client may name each request (`requestId`), which is kept
 * with the action's audit entry, unique per actor, so that a retried request finds the first one
 * instead of acting again. Entries without a request id (NULL) never collide.
 */
export class Migration20261202120000AuditRequestIds extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "proctor_events" add column "request_id" varchar(64) null;`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_actor_id_request_id_unique" unique ("actor_id", "request_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "proctor_events" drop constraint "proctor_events_actor_id_request_id_unique";`);
    this.addSql(`alter table "proctor_events" drop column "request_id";`);
  }
}
