import { Migration } from '@mikro-orm/migrations';

/** When students see per-question correctness: a rule per exam, and the time an admin released it by hand. */
export class Migration20261202010000ResultsRelease extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "exams" add column "results_release" varchar(20) not null default 'window_close', add column "results_released_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "exams" drop column "results_release", drop column "results_released_at";`);
  }
}
