import { Migration } from '@mikro-orm/migrations';

/**
 * MikroORM 7 no longer puts `on update cascade` on foreign keys that are not part of a primary key
 * (ids never change here, so the clause did nothing); this brings the schema to what the entities
 * now describe, so the schema generator finds nothing to change.
 */
export class Migration20261202000000ForeignKeysWithoutUpdateCascade extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "sections" drop constraint "sections_exam_id_foreign";`);
    this.addSql(`alter table "sections" add constraint "sections_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on delete cascade;`);
    this.addSql(`alter table "questions" drop constraint "questions_section_id_foreign";`);
    this.addSql(`alter table "questions" add constraint "questions_section_id_foreign" foreign key ("section_id") references "sections" ("id") on delete cascade;`);
    this.addSql(`alter table "options" drop constraint "options_question_id_foreign";`);
    this.addSql(`alter table "options" add constraint "options_question_id_foreign" foreign key ("question_id") references "questions" ("id") on delete cascade;`);
    this.addSql(`alter table "exam_invigilators" drop constraint "exam_invigilators_exam_id_foreign";`);
    this.addSql(`alter table "exam_invigilators" add constraint "exam_invigilators_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on delete cascade;`);
    this.addSql(`alter table "exam_invigilators" drop constraint "exam_invigilators_invigilator_id_foreign";`);
    this.addSql(`alter table "exam_invigilators" add constraint "exam_invigilators_invigilator_id_foreign" foreign key ("invigilator_id") references "users" ("id") on delete cascade;`);
    this.addSql(`alter table "enrollments" drop constraint "enrollments_exam_id_foreign";`);
    this.addSql(`alter table "enrollments" add constraint "enrollments_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on delete cascade;`);
    this.addSql(`alter table "enrollments" drop constraint "enrollments_student_id_foreign";`);
    this.addSql(`alter table "enrollments" add constraint "enrollments_student_id_foreign" foreign key ("student_id") references "users" ("id") on delete cascade;`);
    this.addSql(`alter table "attempts" drop constraint "attempts_exam_id_foreign";`);
    this.addSql(`alter table "attempts" add constraint "attempts_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on delete cascade;`);
    this.addSql(`alter table "attempts" drop constraint "attempts_student_id_foreign";`);
    this.addSql(`alter table "attempts" add constraint "attempts_student_id_foreign" foreign key ("student_id") references "users" ("id") on delete cascade;`);
    this.addSql(`alter table "proctor_events" drop constraint "proctor_events_exam_id_foreign";`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on delete cascade;`);
    this.addSql(`alter table "proctor_events" drop constraint "proctor_events_attempt_id_foreign";`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_attempt_id_foreign" foreign key ("attempt_id") references "attempts" ("id") on delete cascade;`);
    this.addSql(`alter table "proctor_events" drop constraint "proctor_events_actor_id_foreign";`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_actor_id_foreign" foreign key ("actor_id") references "users" ("id") on delete set null;`);
    this.addSql(`alter table "attempt_answers" drop constraint "attempt_answers_option_id_foreign";`);
    this.addSql(`alter table "attempt_answers" add constraint "attempt_answers_option_id_foreign" foreign key ("option_id") references "options" ("id") on delete set null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "sections" drop constraint "sections_exam_id_foreign";`);
    this.addSql(`alter table "sections" add constraint "sections_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "questions" drop constraint "questions_section_id_foreign";`);
    this.addSql(`alter table "questions" add constraint "questions_section_id_foreign" foreign key ("section_id") references "sections" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "options" drop constraint "options_question_id_foreign";`);
    this.addSql(`alter table "options" add constraint "options_question_id_foreign" foreign key ("question_id") references "questions" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "exam_invigilators" drop constraint "exam_invigilators_exam_id_foreign";`);
    this.addSql(`alter table "exam_invigilators" add constraint "exam_invigilators_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "exam_invigilators" drop constraint "exam_invigilators_invigilator_id_foreign";`);
    this.addSql(`alter table "exam_invigilators" add constraint "exam_invigilators_invigilator_id_foreign" foreign key ("invigilator_id") references "users" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "enrollments" drop constraint "enrollments_exam_id_foreign";`);
    this.addSql(`alter table "enrollments" add constraint "enrollments_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "enrollments" drop constraint "enrollments_student_id_foreign";`);
    this.addSql(`alter table "enrollments" add constraint "enrollments_student_id_foreign" foreign key ("student_id") references "users" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attempts" drop constraint "attempts_exam_id_foreign";`);
    this.addSql(`alter table "attempts" add constraint "attempts_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "attempts" drop constraint "attempts_student_id_foreign";`);
    this.addSql(`alter table "attempts" add constraint "attempts_student_id_foreign" foreign key ("student_id") references "users" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "proctor_events" drop constraint "proctor_events_exam_id_foreign";`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_exam_id_foreign" foreign key ("exam_id") references "exams" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "proctor_events" drop constraint "proctor_events_attempt_id_foreign";`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_attempt_id_foreign" foreign key ("attempt_id") references "attempts" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "proctor_events" drop constraint "proctor_events_actor_id_foreign";`);
    this.addSql(`alter table "proctor_events" add constraint "proctor_events_actor_id_foreign" foreign key ("actor_id") references "users" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "attempt_answers" drop constraint "attempt_answers_option_id_foreign";`);
    this.addSql(`alter table "attempt_answers" add constraint "attempt_answers_option_id_foreign" foreign key ("option_id") references "options" ("id") on update cascade on delete set null;`);
  }
}
