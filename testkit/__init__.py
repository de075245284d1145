"""What the tests, the bench and infra share: fakes of every port, test patients, tokens, the
stack harness."""
