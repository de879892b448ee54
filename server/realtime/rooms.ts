/** Room names, shared by both namespaces and the notifier. Rooms are joined by the server only. */
export const examRoom = (examId: number) => `exam:${examId}`;
export const attemptRoom = (attemptId: number) => `attempt:${attemptId}`;
