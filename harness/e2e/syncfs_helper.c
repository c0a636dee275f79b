/* Test helper for sync_guard_test, linked statically (the guard must reach
 * programs that do not go through a shared libc): writes TEXT to FILE
 * without fsync, then calls syncfs(2) on the file system DIR is on, as a raw
 * system call. Exits 0 when syncfs returned 0. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: syncfs_helper FILE TEXT DIR\n");
    return 2;
  }
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, argv[2], strlen(argv[2])) != (ssize_t)strlen(argv[2])) return 1;
  close(fd);
  int dir = open(argv[3], O_RDONLY | O_DIRECTORY);
  if (dir < 0) return 1;
  if (syscall(SYS_syncfs, dir) != 0) {
    perror("syncfs");
    return 1;
  }
  return 0;
}
