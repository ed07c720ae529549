export * from '@tarflow/test-fixtures';
