import { Migration } from '@mikro-orm/migrations';

/** The whole domain schema: users, the exam tree, enrollments, attempts, answers and the audit log. */
export class Migration20261130000000InitialSchema extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "exams" ("id" serial primary key, "title" varchar(300) not null, "duration_seconds" int not null, "grace_period_seconds" int not null default 0, "opens_at" timestamptz null, "closes_at" timestamptz null, "shuffle_questions" boolean not null default false, "shuffle_options" boolean not null default false, "is_published" boolean not null default false, "version" int not null default 1, "created_at" timestamptz not null, "updated_at" timestamptz not null);`);
    this.addSql(`create index "exams_is_published_index" on "exams" ("is_published");`);
    this.addSql(`create table "sections" ("id" serial primary key, "exam_id" int not null, "title" varchar(300) not null, "position" int not null);`);
    this.addSql(`create index "sections_exam_id_index" on "sections" ("exam_id");`);
    this.addSql(`create table "questions" ("id" serial primary key, "section_id" int not null, "text" text not null, "points" int not null default 1, "position" int not null);`);
    this.addSql(`create index "questions_section_id_index" on "questions" ("section_id");`);
    this.addSql(`create table "options" ("id" serial primary key, "question_id" int not null, "text" text not null, "is_correct" boolean not null default false, "position" int not null);`);
    this.addSql(`create index "options_question_id_index" on "options" ("question_id");`);
    this.addSql(`create table "users" ("id" serial primary key, "email" varchar(254) not null, "name" varchar(200) not null, "role" text check ("role" in ('student', 'invigilator', 'admin')) not null, "password_hash" varchar(255) not null, "created_at" timestamptz not null);`);
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);
    this.addSql(`create table "exam_invigilators" ("id" serial primary key, "exam_id" int not null, "invigilator_id" int not null);`);
    this.addSql(`create index "exam_invigilators_invigilator_id_index" on "exam_invigilators" ("invigilator_id");`);
    this.addSql(`alter table "exam_invigilators" add constraint "exam_invigilators_exam_id_invigilator_id_unique" unique ("exam_id", "invigilator_id");`);
    this.addSql(`create table "enrollments" ("id" serial primary key, "exam_id" int not null, "student_id" int not null, "extra_time_seconds" int not null default 0);`);
    this.addSql(`create index "enrollments_student_id_index" on "enrollments" ("student_id");`);
    this.addSql(`alter table "enrollments" add constraint "enrollments_exam_id_student_id_unique" unique ("exam_id", "student_id");`);
    this.addSql(`create table "attempts" ("id" serial primary key, "exam_id" int not null, "student_id" int not null, "status" text check ("status" in ('in_progress', 'submitted', 'expired', 'terminated')) not null default 'in_progress', "started_at" timestamptz not null, "deadline_at" timestamptz not null, "submitted_at" timestamptz null, "score" int null, "max_score" int null);`);
    this.addSql(`create index "attempts_student_id_index" on "attempts" ("student_id");`);
    this.addSql(`create index "attempts_status_deadline_at_index" on "attempts" ("status", "deadline_at");`);
    this.addSql(`alter table "attempts" add constraint "attempts_exam_id_student_id_unique" unique ("exam_id", "student_id");`);
    this.addSql(`create table "proctor_events" ("id" bigserial primary key, "exam_id" int not null, "attempt_id" int null, "type" varchar(64) not null, "detail" jsonb null, "at" timestamptz not null, "actor_id" int null);`);
    this.addSql(`create index "proctor_events_attempt_id_index" on "proctor_events" ("attempt_id");`);
    this.addSql(`create index "proctor_events_exam_id_at_index" on "proctor_events" ("exam_id", "at");`);
    this.addSql(`create table "attempt_answers" ("attempt_id" int not null, "question_id" int not null, "option_id" int null, "seq" int not null, "answered_at" timestamptz not null, constraint "attempt_answers_pkey" primary key ("attempt_id", "question_id"));`);
    this.addSql(`alter table "sections" add constraint "sections_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "questions" add constraint "questions_section_id_foreign" foreign key ("section_id") references "sections" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "options" add constraint "options_question_id_foreign" foreign key ("question_id") references "questions" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "exam_invigilators" add constraint "exam_invigilators_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "exam_invigilators" add constraint "exam_invigilators_invigilator_id_foreign" foreign key ("invigilator_id") references "users" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "enrollments" add constraint "enrollments_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "enrollments" add constraint "enrollments_student_id_foreign" foreign key ("student_id") references "users" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attempts" add constraint "attempts_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attempts" add constraint "attempts_student_id_foreign" foreign key ("student_id") references "users" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_attempt_id_foreign" foreign key ("attempt_id") references "attempts" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_actor_id_foreign" foreign key ("actor_id") references "users" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "attempt_answers" add constraint "attempt_answers_attempt_id_foreign" foreign key ("attempt_id") references "attempts" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attempt_answers" add constraint "attempt_answers_question_id_foreign" foreign key ("question_id") references "questions" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attempt_answers" add constraint "attempt_answers_option_id_foreign" foreign key ("option_id") references "options" ("id") on update cascade on delete set null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "attempt_answers", "proctor_events", "attempts", "enrollments", "exam_invigilators", "users", "options", "questions", "sections", "exams" cascade;`);
  }
}
