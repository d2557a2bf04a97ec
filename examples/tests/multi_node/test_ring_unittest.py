"""A unittest file that is a whole MPI program: started by the launcher template from
.vscode/settings.json (`{mpiexec} -n {ranks} {python} {file}`), not by pytest."""
import unittest

from mpi4py import MPI


class TestRing(unittest.TestCase):
    def test_token_travels_the_ring(self):
        comm = MPI.COMM_WORLD
        right, left = (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size
        if comm.rank == 0:
            comm.send(0, dest=right)
            token = comm.recv(source=left)
            self.assertEqual(token, comm.size - 1)
        else:
            token = comm.recv(source=left)
            comm.send(token + 1, dest=right)

    def test_every_rank_sees_the_same_world(self):
        sizes = MPI.COMM_WORLD.allgather(MPI.COMM_WORLD.size)
        self.assertEqual(set(sizes), {MPI.COMM_WORLD.size})


if __name__ == "__main__":
    unittest.main()
