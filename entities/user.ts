import { EntitySchema } from '@mikro-orm/core';

export const ROLES = ['student', 'invigilator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export class User {
  id!: number;
  email!: string;
  name!: string;
  role!: Role;
  /** scrypt hash in the self-describing format of `server/auth/passwords.ts`; never serialized. */
  passwordHash!: string;
  createdAt: Date = new Date();

  constructor(init?: Pick<User, 'email' | 'name' | 'role' | 'passwordHash'>) {
    if (init) Object.assign(this, init);
  }
}

export const UserSchema = new EntitySchema<User>({
  class: User,
  tableName: 'users',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    email: { type: 'string', length: 254, unique: true },
    name: { type: 'string', length: 200 },
    role: { enum: true, items: () => [...ROLES], type: 'string' },
    passwordHash: { type: 'string', length: 255, hidden: true, lazy: false },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
