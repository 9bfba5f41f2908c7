// Loaded before every test file: an unhandled rejection anywhere fails the file's process,
// so no test can pass while leaving a rejected promise unobserved.
process.on('unhandledRejection', (reason) => {
  console.error('unhandled rejection:', reason);
  process.exitCode = 1;
  throw reason;
});
